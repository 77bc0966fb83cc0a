package eval

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestValueKinds(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want Kind
	}{
		{"null", Null(), KNull},
		{"true", Bool(true), KBool},
		{"false", Bool(false), KBool},
		{"int", Int(-1), KInt},
		{"int-kindbits", Int(int64(uint64(KThunk) << 56)), KInt},
		{"float", Float(math.Float64frombits(uint64(KThunk) << 56)), KFloat},
		{"string", String("abc"), KString},
		{"empty-string", String(""), KString},
		{"ctx-string", StringCtx("x", NewContext("/nix/store/a")), KString},
		{"path", Path("/a"), KPath},
		{"list", List([]Value{Int(1)}), KList},
		{"empty-list", List(nil), KList},
		{"attrs", AttrsValue(emptyAttrs), KAttrs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Kind(); got != tt.want {
				t.Errorf("Kind() = %d, want %d", got, tt.want)
			}
			if tt.v.IsThunk() {
				t.Errorf("IsThunk() = true")
			}
		})
	}
	if s := StringCtx("x", NewContext("/nix/store/b", "/nix/store/a")); s.Str() != "x" || strings.Join(s.Ctx().Elems(), ",") != "/nix/store/a,/nix/store/b" {
		t.Errorf("StringCtx: %q %v", s.Str(), s.Ctx().Elems())
	}
	if Int(math.MinInt64).IntV() != math.MinInt64 || Float(-0.5).FloatV() != -0.5 {
		t.Errorf("scalar round trip failed")
	}
}

func TestStaticSymbolOrder(t *testing.T) {
	s := newSymtab()
	for i, want := range []string{"<with>", "outPath", "drvPath", "type"} {
		if got := s.name(Sym(i)); got != want {
			t.Errorf("symbol %d = %q, want %q", i, got, want)
		}
	}
	if s.name(symBody) != "body" || s.name(symFunctor) != "__functor" {
		t.Errorf("static symbol constants out of sync")
	}
}

// TestEvalTable evaluates small expressions and checks printAmbiguous
// output (--strict) or the first line of the error.
func TestEvalTable(t *testing.T) {
	tests := []struct{ src, want string }{
		{`1 + 2 * 3`, `7`},
		{`"a${"b"}c"`, `"abc"`},
		{`let f = x: x; in [ ([ f ] == [ f ]) (f == f) ]`, `[ true false ]`},
		{`{ b = 1; a = { c = 2; }; }`, `{ a = { c = 2; }; b = 1; }`},
		{`let x = [ x ]; in [ x ]`, `[ [ «repeated» ] ]`},
		{`builtins.toString [ [] "a" ]`, `"a"`},
		{`builtins.toString [ "a" [] ]`, `"a "`},
		{`toString 1.5`, `"1.500000"`},
		{`0.1 + 0.2`, `0.3`},
		{`builtins.toJSON (0.1 + 0.2)`, `"0.30000000000000004"`},
		{`builtins.sort builtins.lessThan [ 3 1 2 ]`, `[ 1 2 3 ]`},
		{`with { a = 1; }; let a = 2; in a`, `2`},
		{`rec { a = b; b = 1; }.a`, `1`},
		{`({ a ? b, b ? 2 }@s: [ a (s ? b) ]) {}`, `[ 2 false ]`},
		{`builtins.tryEval (throw "x")`, `{ success = false; value = false; }`},
		{`builtins.genericClosure { startSet = [ { key = 1; } ]; operator = x: if x.key < 3 then [ { key = x.key + 1; } ] else []; }`, `[ { key = 1; } { key = 2; } { key = 3; } ]`},
		{`builtins.length (builtins.genList (x: [ x ]) 100 ++ [ 1 ] ++ builtins.genList (x: x) 50)`, `151`},
		{`9223372036854775807 + 1`, `error: integer overflow in adding 9223372036854775807 + 1`},
		{`undefinedVar`, `error: undefined variable 'undefinedVar'`},
		{`let x = x; in x`, `error: infinite recursion encountered`},
		{`{ a = 1; }.b`, `error: attribute 'b' missing`},
		{`assert 1 == 2; 3`, `error: an integer with value '1' is not equal to an integer with value '2'`},
		{`assert false; 3`, `error: assertion 'false' failed`},
	}
	for _, tt := range tests {
		ev := New(Options{})
		var out bytes.Buffer
		err := ev.Run(func() error {
			v, err := ev.EvalString(tt.src, "«string»", "/")
			if err != nil {
				return err
			}
			if err := ev.ForceDeep(v); err != nil {
				return err
			}
			return ev.PrintAmbiguous(&out, v)
		})
		got := out.String()
		if err != nil {
			lines := strings.Split(ev.FormatError(err, true), "\n")
			got = ""
			for _, l := range lines {
				if i := strings.Index(l, "error: "); i >= 0 && len(l) > i+7 {
					got = strings.TrimSpace(l[i:])
				}
			}
		}
		if got != tt.want {
			t.Errorf("%s\n got: %s\nwant: %s", tt.src, got, tt.want)
		}
	}
}
