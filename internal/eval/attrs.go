package eval

import "sort"

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
}

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
func (s *Attrs) Len() int { return len(s.a) }

// All returns the bindings in symbol-id (internal) order. Do not modify.
func (s *Attrs) All() []Attr { return s.a }

// Get returns the binding for name.
func (s *Attrs) Get(name Sym) (*Attr, bool) {
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
		sort.SliceStable(a, func(i, j int) bool { return a[i].Name < a[j].Name })
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
	if len(r.a) == 0 {
		return l
	}
	if len(l.a) == 0 {
		return r
	}
	res := allocAttrs(len(l.a) + len(r.a))
	out := res.a[:0]
	i, j := 0, 0
	for i < len(l.a) && j < len(r.a) {
		switch {
		case l.a[i].Name < r.a[j].Name:
			out = append(out, l.a[i])
			i++
		case l.a[i].Name > r.a[j].Name:
			out = append(out, r.a[j])
			j++
		default:
			out = append(out, r.a[j])
			i++
			j++
		}
	}
	out = append(out, l.a[i:]...)
	out = append(out, r.a[j:]...)
	res.a = out
	return res
}

// lexOrder returns the bindings sorted bytewise by name.
func (ev *Evaluator) lexOrder(s *Attrs) []Attr {
	out := make([]Attr, len(s.a))
	copy(out, s.a)
	names := ev.syms.names
	sort.Slice(out, func(i, j int) bool { return names[out[i].Name] < names[out[j].Name] })
	return out
}
