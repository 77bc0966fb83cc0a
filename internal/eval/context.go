package eval

import "slices"

// Context is an immutable, sorted set of string-context elements
// ("/nix/store/…" plain paths, "!out!/nix/store/…drv", "=/nix/store/…drv").
type Context struct {
	elems []string
}

// NewContext returns a context holding elems (sorted, deduplicated).
func NewContext(elems ...string) *Context {
	if len(elems) == 0 {
		return nil
	}
	e := slices.Clone(elems)
	slices.Sort(e)
	e = slices.Compact(e)
	return &Context{elems: e}
}

// Len returns the number of elements.
func (c *Context) Len() int {
	if c == nil {
		return 0
	}
	return len(c.elems)
}

// Elems returns the sorted elements. Do not modify.
func (c *Context) Elems() []string {
	if c == nil {
		return nil
	}
	return c.elems
}

// unionCtx merges two contexts, reusing an operand when possible.
func unionCtx(a, b *Context) *Context {
	if a.Len() == 0 {
		return b
	}
	if b.Len() == 0 || a == b {
		return a
	}
	out := make([]string, 0, len(a.elems)+len(b.elems))
	i, j := 0, 0
	for i < len(a.elems) && j < len(b.elems) {
		switch {
		case a.elems[i] < b.elems[j]:
			out = append(out, a.elems[i])
			i++
		case a.elems[i] > b.elems[j]:
			out = append(out, b.elems[j])
			j++
		default:
			out = append(out, a.elems[i])
			i++
			j++
		}
	}
	out = append(out, a.elems[i:]...)
	out = append(out, b.elems[j:]...)
	if len(out) == len(a.elems) {
		return a
	}
	if len(out) == len(b.elems) {
		return b
	}
	return &Context{elems: out}
}

// ctxBuilder accumulates contexts.
type ctxBuilder struct{ c *Context }

func (b *ctxBuilder) add(c *Context) { b.c = unionCtx(b.c, c) }
