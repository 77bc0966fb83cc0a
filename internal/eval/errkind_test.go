package eval

import (
	"errors"
	"testing"
)

// TestErrorKinds checks the error classification callers rely on: nix-env
// -qa skips a package for an AssertionError (a failed assert, or a throw:
// CppNix's ThrownError derives from it), tryEval catches the same two.
func TestErrorKinds(t *testing.T) {
	tests := []struct {
		src                  string
		assertion, catchable bool
	}{
		{`assert 1 == 2; 3`, true, true},
		{`let f = x: assert x; x; in f false`, true, true},
		{`throw "no"`, true, true}, // ThrownError derives from AssertionError
		{`abort "no"`, false, false},
		{`1 + "a"`, false, false},
	}
	for _, tt := range tests {
		ev := New(Options{})
		err := ev.Run(func() error {
			_, err := ev.EvalString(tt.src, "«test»", "/")
			return err
		})
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: error %v is not an *EvalError", tt.src, err)
		}
		if got := ee.IsAssertion(); got != tt.assertion {
			t.Errorf("%s: IsAssertion() = %v, want %v", tt.src, got, tt.assertion)
		}
		if got := ee.Catchable(); got != tt.catchable {
			t.Errorf("%s: Catchable() = %v, want %v", tt.src, got, tt.catchable)
		}
	}
}
