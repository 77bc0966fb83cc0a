package eval

import (
	"cmp"
	"slices"
	"strings"
)

// Attr is one binding of an attribute set.
type Attr struct {
	Name Sym
	Pos  int32 // token.Pos of the definition (0: none)
	Val  Value // possibly a thunk
}

// Attrs is an attribute set: bindings sorted by symbol id. Immutable once
// built.
type Attrs struct {
	a   []Attr
	pos Pos // position of the expression that built the set
	// A small right-hand side of // is layered on top of the left side
	// instead of copying it (as CppNix does): base is the layer below,
	// whose names a shadows; n is the number of distinct names. All()
	// flattens on first use.
	base  *Attrs
	n     int32
	depth uint8
}

const (
	maxLayerRHS = 16 // CppNix's bindingsUpdateLayerRhsSizeThreshold
	maxLayers   = 8
)

var emptyAttrs = &Attrs{}

type attrs1 struct {
	Attrs
	arr [1]Attr
}

type attrs2 struct {
	Attrs
	arr [2]Attr
}

type attrs4 struct {
	Attrs
	arr [4]Attr
}

// allocAttrs returns a set with n zeroed bindings, in one allocation when
// n is small. The caller fills a[:n] in symbol order.
func allocAttrs(n int) *Attrs {
	switch {
	case n == 1:
		x := &attrs1{}
		x.a = x.arr[:]
		return &x.Attrs
	case n == 2:
		x := &attrs2{}
		x.a = x.arr[:]
		return &x.Attrs
	case n <= 4:
		x := &attrs4{}
		x.a = x.arr[:n]
		return &x.Attrs
	}
	return &Attrs{a: make([]Attr, n)}
}

// Len returns the number of attributes.
func (s *Attrs) Len() int {
	if s.base != nil {
		return int(s.n)
	}
	return len(s.a)
}

// All returns the bindings in symbol-id (internal) order. Do not modify.
func (s *Attrs) All() []Attr {
	if s.base != nil {
		s.a = mergeAttrs(s.base.All(), s.a)
		s.base = nil
		s.depth = 0
	}
	return s.a
}

// Get returns the binding for name.
func (s *Attrs) Get(name Sym) (*Attr, bool) {
	for s.base != nil {
		if at, ok := s.getOwn(name); ok {
			return at, true
		}
		s = s.base
	}
	return s.getOwn(name)
}

func (s *Attrs) getOwn(name Sym) (*Attr, bool) {
	a := s.a
	if len(a) <= 8 {
		for i := range a {
			if a[i].Name == name {
				return &a[i], true
			}
		}
		return nil, false
	}
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(a) && a[lo].Name == name {
		return &a[lo], true
	}
	return nil, false
}

// newAttrs builds a set from bindings, sorting them by symbol id. Later
// duplicates are dropped.
func newAttrs(a []Attr) *Attrs {
	if len(a) == 0 {
		return emptyAttrs
	}
	sorted := true
	for i := 1; i < len(a); i++ {
		if a[i-1].Name >= a[i].Name {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortStableFunc(a, func(x, y Attr) int { return cmp.Compare(x.Name, y.Name) })
		out := a[:1]
		for i := 1; i < len(a); i++ {
			if a[i].Name != out[len(out)-1].Name {
				out = append(out, a[i])
			}
		}
		a = out
	}
	return &Attrs{a: a}
}

// update returns l // r.
func update(l, r *Attrs) *Attrs {
	if r.Len() == 0 {
		return l
	}
	if l.Len() == 0 {
		return r
	}
	if r.base == nil && len(r.a) <= maxLayerRHS && l.depth < maxLayers {
		n := l.Len() + len(r.a)
		for i := range r.a {
			if _, ok := l.Get(r.a[i].Name); ok {
				n--
			}
		}
		return &Attrs{a: r.a, base: l, n: int32(n), depth: l.depth + 1}
	}
	res := &Attrs{}
	res.a = mergeAttrs(l.All(), r.All())
	return res
}

// mergeAttrs merges two sorted binding lists, r winning on equal names.
func mergeAttrs(l, r []Attr) []Attr {
	out := allocAttrs(len(l) + len(r)).a[:0]
	i, j := 0, 0
	for i < len(l) && j < len(r) {
		switch {
		case l[i].Name < r[j].Name:
			out = append(out, l[i])
			i++
		case l[i].Name > r[j].Name:
			out = append(out, r[j])
			j++
		default:
			out = append(out, r[j])
			i++
			j++
		}
	}
	out = append(out, l[i:]...)
	return append(out, r[j:]...)
}

// lexOrder returns the bindings sorted bytewise by name.
func (ev *Evaluator) lexOrder(s *Attrs) []Attr {
	all := s.All()
	out := make([]Attr, len(all))
	copy(out, all)
	names := ev.syms.names
	if len(out) > 1 {
		slices.SortFunc(out, func(x, y Attr) int { return strings.Compare(names[x.Name], names[y.Name]) })
	}
	return out
}
