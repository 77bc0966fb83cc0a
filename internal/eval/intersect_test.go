package eval

import (
	"bytes"
	"testing"
)

// TestIntersectAttrs checks builtins.intersectAttrs whichever of its
// arguments is the smaller (the builtin walks the smaller one): the
// result has the names of both and the values of the second.
func TestIntersectAttrs(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{`builtins.intersectAttrs { a = 0; c = 0; } { a = 1; b = 2; c = 3; d = 4; }`, `{ a = 1; c = 3; }`},
		{`builtins.intersectAttrs { a = 0; b = 0; c = 0; z = 0; } { c = 3; a = 1; }`, `{ a = 1; c = 3; }`},
		{`builtins.intersectAttrs {} { a = 1; }`, `{ }`},
		{`builtins.intersectAttrs { x = 1; } { a = 1; }`, `{ }`},
		{`let big = builtins.listToAttrs (map (n: { name = "n${toString n}"; value = n; }) (builtins.genList (x: x) 100));
		  in builtins.intersectAttrs { n7 = null; n70 = null; q = null; } (big // { q = "q"; })`, `{ n7 = 7; n70 = 70; q = "q"; }`},
	} {
		ev := New(Options{})
		var out bytes.Buffer
		err := ev.Run(func() error {
			v, err := ev.EvalString(tt.src, "«test»", "/")
			if err != nil {
				return err
			}
			if err := ev.ForceDeep(v); err != nil {
				return err
			}
			return ev.PrintAmbiguous(&out, v)
		})
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if out.String() != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, out.String(), tt.want)
		}
	}
}
