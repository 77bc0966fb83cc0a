package eval

import (
	"io"
	"strings"
)

// This file holds small exported entry points for the command line
// (nix-instantiate --json, nix eval --raw); they only wrap internals.

// WriteJSON writes v as `nix-instantiate --json` does (CppNix's
// printValueAsJSON): paths are copied to the store; with strict, nested
// thunks are forced.
func (ev *Evaluator) WriteJSON(w io.Writer, v Value, strict bool) error {
	var cb ctxBuilder
	var b strings.Builder
	if err := ev.toJSON(&b, v, strict, &cb, 0); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CoerceToString coerces v to a string as string interpolation does
// (`nix eval --raw`): strings, paths (copied to the store) and sets with
// __toString or outPath.
func (ev *Evaluator) CoerceToString(v Value) (string, error) {
	var cb ctxBuilder
	return ev.coerceToString(0, v, &cb, "", coerceOpts{copy: true})
}
