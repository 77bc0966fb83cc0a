package eval

import "testing"

// TestCheckExpr compares CheckExpr with the compiler's bind-time errors.
func TestCheckExpr(t *testing.T) {
	tests := []struct{ src, want string }{
		{"x: x", ""},
		{"x", "undefined variable 'x'"},
		{"{ a, b ? a }: b", ""},
		{"{ a ? b }: a", "undefined variable 'b'"},
		{"args@{ ... }: args", ""},
		{"rec { a = b; b = 1; }", ""},
		{"rec { inherit a; b = a; }", "undefined variable 'a'"},
		{"{ a = 1; b = a; }", "undefined variable 'a'"},
		{"let a = 1; in { inherit a; }", ""},
		{"let a = 1; in rec { inherit (b) c; b = { c = a; }; }", ""},
		{"let inherit (x) y; in y", "undefined variable 'x'"},
		{"let x = { y = 1; }; inherit (x) y; in y", ""},
		{"with {}; z", ""},
		{"with z; q", "undefined variable 'z'"},
		{"[ (a: a) a ]", "undefined variable 'a'"},
		{"let f = a: a; in [ f a ]", "undefined variable 'a'"},
		{`{ ${y} = 1; }`, "undefined variable 'y'"},
		{`rec { ${y} = 1; y = "a"; }`, ""},
		{`"${p}"`, "undefined variable 'p'"},
		{"x.${q} or r", "undefined variable 'x'"},
		{"builtins.map __add [ true null ]", ""},
		{"let a = b; b = c; in d", "undefined variable 'c'"},
		{"assert u; 1", "undefined variable 'u'"},
		{"__curPos", ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			ev := New(Options{})
			e, err := ev.ParseString([]byte(tt.src), "«string»", "/")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := ev.CheckExpr(e); err != nil {
				got = err.Error()
			}
			want := ""
			if _, err := New(Options{}).compile(e); err != nil {
				want = err.Error()
			}
			if got != tt.want || want != tt.want {
				t.Errorf("CheckExpr %q, compile %q, want %q", got, want, tt.want)
			}
		})
	}
}
