package token

import "testing"

func TestPosition(t *testing.T) {
	src := []byte("ab\ncd\r\nef\rgh\n")
	fset := NewFileSet()
	fset.AddFile("other", 5)
	f := fset.AddFile("f.nix", len(src))
	f.SetSource(src)
	tests := []struct {
		off  int
		want string
	}{
		{0, "f.nix:1:1"},
		{2, "f.nix:1:3"},
		{3, "f.nix:2:1"},
		{5, "f.nix:2:3"}, // the \r of \r\n
		{7, "f.nix:3:1"},
		{10, "f.nix:4:1"},
		{13, "f.nix:5:1"}, // end of file after a final newline
	}
	for _, tt := range tests {
		if got := fset.Position(f.Pos(tt.off)).String(); got != tt.want {
			t.Errorf("offset %d: got %s, want %s", tt.off, got, tt.want)
		}
	}
	if got := fset.Position(NoPos); got.IsValid() || got.String() != "«none»" {
		t.Errorf("NoPos: got %+v %q", got, got.String())
	}
	for line, want := range []string{"", "ab", "cd", "ef", "gh", ""} {
		if line == 0 {
			continue
		}
		got, ok := f.Line(line)
		if !ok || string(got) != want {
			t.Errorf("Line(%d) = %q, %v; want %q", line, got, ok, want)
		}
	}
	if _, ok := f.Line(6); ok {
		t.Errorf("Line(6) exists")
	}
	if fset.File(f.Pos(0)) != f || fset.File(Pos(1)).Name() != "other" {
		t.Errorf("File lookup broken")
	}
}

func TestTokenNames(t *testing.T) {
	for tok := EOF; tok < numTokens; tok++ {
		if names[tok] == "" {
			t.Errorf("token %d has no name", tok)
		}
	}
	if !IsIdentifier("or") || IsIdentifier("if") || IsIdentifier("1a") || !IsIdentifier("a-b'") {
		t.Errorf("IsIdentifier wrong")
	}
}
