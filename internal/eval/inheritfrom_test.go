package eval

import (
	"testing"
)

// TestInheritFromOnce checks Compat.InheritFromOnce: current Nix evaluates
// the e of `inherit (e) a b` once per set, Nix 2.8 once per inherited
// attribute, so a and b below are one set (current) or two (2.8). nix-env
// -qa deduplicates derivations by set identity, so the 2.8 listing of
// nixpkgs shows both nix and nixStable (inherit (callPackages …) nix
// nixStable, with nix = nixStable).
func TestInheritFromOnce(t *testing.T) {
	src := `let s = { inherit (rec { p = { x = 1; } // { y = 2; }; q = p; }) p q; };
	        l = let inherit (rec { p = { x = 1; } // { y = 2; }; q = p; }) p q; in [ p q ];
	    in [ s.p s.q (builtins.elemAt l 0) (builtins.elemAt l 1) ]`
	for _, tt := range []struct {
		name string
		c    Compat
		same bool
	}{{"current", CompatCurrent(), true}, {"nix28", CompatNix28(), false}} {
		ev := New(Options{Compat: tt.c})
		err := ev.Run(func() error {
			v, err := ev.EvalString(src, "«test»", "/")
			if err != nil {
				return err
			}
			var sets []*Attrs
			for _, x := range v.ListV() {
				x, err := ev.Force(x)
				if err != nil {
					return err
				}
				sets = append(sets, x.AttrsV())
			}
			if got := sets[0] == sets[1]; got != tt.same {
				t.Errorf("%s: inherit in a set: same set = %v, want %v", tt.name, got, tt.same)
			}
			if got := sets[2] == sets[3]; got != tt.same {
				t.Errorf("%s: inherit in a let: same set = %v, want %v", tt.name, got, tt.same)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
}
