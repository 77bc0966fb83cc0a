package eval

import (
	"crypto/sha256"

	"cairn/internal/compat/nixbase32"
)

// hashPlaceholder is builtins.placeholder: "/" + nix32(sha256("nix-output:" + out)).
func hashPlaceholder(out string) string {
	h := sha256.Sum256([]byte("nix-output:" + out))
	return "/" + nixbase32.EncodeToString(h[:])
}

// derivationValue returns the `derivation` builtin. It is a lazy thunk
// of the wrapper around derivationStrict.
func (ev *Evaluator) derivationValue() Value {
	return PrimopValue(&Primop{Name: "derivation", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
		return Value{}, ev.ferr("builtins.derivation is not supported by this evaluator yet")
	}})
}

func extraBuiltins() []Primop { return hashBuiltins() }
