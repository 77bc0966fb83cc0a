package nixjson

import "testing"

func TestAppendString(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"empty", "", `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"newline tab cr", "a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"other control", "\x01\x1f\b\f", `"\u0001\u001f\u0008\u000c"`},
		{"bytes kept", "é\xff\x7f", "\"é\xff\x7f\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendString(nil, tt.in)); got != tt.want {
				t.Errorf("AppendString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
