package eval

// Exported helpers for builtins implemented outside this package (glue's
// fetchers, derivation hooks). They mirror the internal force/coerce
// functions; ctx is the CppNix error-context string added as a trace frame
// on failure (e.g. "while evaluating the first argument passed to
// builtins.fetchurl").

// ForceAttrs forces v to an attribute set.
func (ev *Evaluator) ForceAttrs(v Value, ctx string) (*Attrs, error) {
	return ev.forceAttrs(v, 0, ctx)
}

// ForceList forces v to a list and returns its elements (maybe thunks).
func (ev *Evaluator) ForceList(v Value, ctx string) ([]Value, error) {
	l, err := ev.forceList(v, 0, ctx)
	if err != nil {
		return nil, err
	}
	return l.ListV(), nil
}

// ForceString forces v to a string and returns it with its context.
func (ev *Evaluator) ForceString(v Value, ctx string) (string, *Context, error) {
	s, err := ev.forceString(v, 0, ctx)
	if err != nil {
		return "", nil, err
	}
	return s.Str(), s.Ctx(), nil
}

// ForceStringNoCtx forces v to a string without context.
func (ev *Evaluator) ForceStringNoCtx(v Value, ctx string) (string, error) {
	return ev.forceStringNoCtx(v, 0, ctx)
}

// ForceInt forces v to an integer.
func (ev *Evaluator) ForceInt(v Value, ctx string) (int64, error) { return ev.forceInt(v, 0, ctx) }

// ForceBool forces v to a Boolean.
func (ev *Evaluator) ForceBool(v Value, ctx string) (bool, error) { return ev.forceBool(v, 0, ctx) }

// ForceFunction forces v to a function (or functor set).
func (ev *Evaluator) ForceFunction(v Value, ctx string) (Value, error) {
	return ev.forceFunction(v, 0, ctx)
}

// CoerceToStringCtx coerces v like string interpolation ("${v}"): paths
// are copied to the store; it returns the string and its context.
func (ev *Evaluator) CoerceToStringCtx(v Value, ctx string) (string, *Context, error) {
	var cb ctxBuilder
	s, err := ev.coerceToString(0, v, &cb, ctx, coerceOpts{copy: true})
	return s, cb.c, err
}

// CoerceToPath coerces v to an absolute, canonical path string.
func (ev *Evaluator) CoerceToPath(v Value, ctx string) (string, *Context, error) {
	var cb ctxBuilder
	s, err := ev.coerceToPath(0, v, &cb, ctx)
	return s, cb.c, err
}

// Errorf returns an evaluation error (no position); the caller of a
// builtin adds "while calling the 'x' builtin".
func (ev *Evaluator) Errorf(format string, args ...any) error {
	return ev.errorf(errGeneric, 0, format, args...)
}

// Throwf returns an error that builtins.tryEval catches (like throw).
func (ev *Evaluator) Throwf(format string, args ...any) error {
	return ev.errorf(errThrow, 0, format, args...)
}

// Attr returns the attribute name of s, if present (maybe a thunk).
func (ev *Evaluator) Attr(s *Attrs, name string) (Value, bool) {
	sym, ok := ev.syms.lookup(name)
	if !ok {
		return Value{}, false
	}
	a, ok := s.Get(sym)
	if !ok {
		return Value{}, false
	}
	return a.Val, true
}

// AttrNames returns the names of s in bytewise order.
func (ev *Evaluator) AttrNames(s *Attrs) []string {
	out := make([]string, 0, s.Len())
	for _, a := range ev.lexOrder(s) {
		out = append(out, ev.syms.name(a.Name))
	}
	return out
}

// NewAttrs builds an attribute set value from names and values.
func (ev *Evaluator) NewAttrs(m map[string]Value) Value {
	out := make([]Attr, 0, len(m))
	for k, v := range m {
		out = append(out, Attr{Name: ev.syms.intern(k), Val: v})
	}
	return AttrsValue(newAttrs(out))
}

// Warn prints an "evaluation warning:" to Options.Trace.
func (ev *Evaluator) Warn(msg string) { ev.warn(msg) }

// Call applies fn to args (Nix function application, including functors
// and primops) and returns the result in weak head normal form.
func (ev *Evaluator) Call(fn Value, args ...Value) (Value, error) {
	return ev.callFunction(fn, args, 0)
}
