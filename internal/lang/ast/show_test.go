package ast

import (
	"testing"

	"cairn/internal/lang/token"
)

func TestQuoting(t *testing.T) {
	tests := []struct{ name, in, str, ident string }{
		{"plain", "abc", `"abc"`, "abc"},
		{"escapes", "a\"b\\c\nd\re\tf", `"a\"b\\c\nd\re\tf"`, `"a\"b\\c\nd\re\tf"`},
		{"dollar", "$a ${b} $", `"$a \${b} $"`, `"$a \${b} $"`},
		{"keyword", "if", `"if"`, `"if"`},
		{"or", "or", `"or"`, "or"},
		{"empty", "", `""`, `""`},
		{"digit start", "1a", `"1a"`, `"1a"`},
		{"dash quote", "a-b'c", `"a-b'c"`, "a-b'c"},
		{"utf8", "é", `"é"`, `"é"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QuoteString(tt.in); got != tt.str {
				t.Errorf("QuoteString = %s, want %s", got, tt.str)
			}
			if got := string(AppendIdentifier(nil, tt.in)); got != tt.ident {
				t.Errorf("AppendIdentifier = %s, want %s", got, tt.ident)
			}
		})
	}
}

func TestFormatFloat(t *testing.T) {
	for in, want := range map[float64]string{
		1.5: "1.5", 0.1 + 0.2: "0.3", 100000: "100000", 1e6: "1e+06", 1234567: "1.23457e+06",
		1e-5: "1e-05", 0.0001: "0.0001", -2.5: "-2.5", 0: "0",
	} {
		if got := FormatFloat(in); got != want {
			t.Errorf("FormatFloat(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestShowNodes(t *testing.T) {
	f := &InheritFrom{Index: 0}
	attrs := &Attrs{
		Rec: true,
		Attrs: []*AttrDef{
			{Name: "a", Value: &Var{Name: "a"}, Kind: Inherited},
			{Name: "b", Value: &Select{X: f, Path: []AttrName{{Name: "b"}}}, Kind: InheritedFrom},
			{Name: "c d", Value: &Int{Value: -3}},
		},
		Dynamic:     []DynamicAttr{{NameExpr: &Var{Name: "n"}, Value: &CurPos{}}},
		InheritFrom: []Expr{&Var{Name: "src"}},
	}
	lam := &Lambda{Arg: "args", Formals: &Formals{List: []Formal{{Name: "x", Default: &String{Value: "d"}}}, Ellipsis: true}, Body: &Path{Value: "/p"}}
	e := &Let{Attrs: &Attrs{Attrs: []*AttrDef{{Name: "f", Value: lam}}}, Body: &Call{Fn: &Var{Name: "f"}, Args: []Expr{attrs, &List{Elems: []Expr{&Float{Value: 2}}}}}}
	want := `(let f = ({ x ? "d", ... } @ args: /p); in (f rec { inherit a; inherit (src) b; "c d" = -3; "${n}" = __curPos; } [ (2) ]))`
	if got := Show(e); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var n int
	Inspect(e, func(Expr) bool { n++; return true })
	if n != 16 {
		t.Errorf("Inspect visited %d nodes, want 16", n)
	}
}

// TestIsKeyword checks the printer's keyword switch against token's table.
func TestIsKeyword(t *testing.T) {
	for _, s := range []string{"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or", "x", "iff", "ifx", "lets", "inherits", "asserT", ""} {
		if got, want := isKeyword(s), token.IsKeyword(s); got != want {
			t.Errorf("isKeyword(%q) = %v, token.IsKeyword says %v", s, got, want)
		}
	}
}
