package eval

import "fmt"

type errKind uint8

const (
	errGeneric errKind = iota
	errAssert          // AssertionError: caught by tryEval
	errThrow           // ThrownError: caught by tryEval
	errAbort
	errType
	errUndefinedVar
	errMissingArg
	errInfRec
	errStackOverflow
	errFile // I/O failure
)

// Frame is one trace entry ("… while evaluating …").
type Frame struct {
	Pos    Pos
	Msg    string
	Always bool // printed even without --show-trace
}

// EvalError is an evaluation failure: a message, an optional position,
// trace frames (innermost first) and suggestions.
type EvalError struct {
	Msg         string
	Pos         Pos
	Frames      []Frame
	Suggestions []string
	kind        errKind
	thunk       *Thunk // infinite recursion: the blackholed thunk
	parse       bool   // a parse error (rendered without "error:" line break)
	// more are the further errors of a failed parse (the first is this
	// one, the one Nix reports); FormatError prints them after it.
	more []*EvalError
	// Usage marks CppNix UsageErrors: the CLI prints "Try '<prog> --help'
	// for more information." after the rendered error.
	Usage bool
}

func (e *EvalError) Error() string { return e.Msg }

// Catchable reports whether builtins.tryEval catches e (throw, assert,
// failed <path> lookup).
func (e *EvalError) Catchable() bool { return e.kind == errThrow || e.kind == errAssert }

// IsAssertion reports whether e is a CppNix AssertionError: a failed
// assert or a throw (ThrownError derives from it), the errors nix-env -qa
// skips a package for.
func (e *EvalError) IsAssertion() bool { return e.kind == errAssert || e.kind == errThrow }

// IsAbort reports whether e came from builtins.abort.
func (e *EvalError) IsAbort() bool { return e.kind == errAbort }

// clone copies e so that later trace additions do not mutate it.
func (e *EvalError) clone() *EvalError {
	c := *e
	c.Frames = append([]Frame(nil), e.Frames...)
	return &c
}

func (ev *Evaluator) errorf(kind errKind, p Pos, format string, args ...any) *EvalError {
	return &EvalError{Msg: fmt.Sprintf(format, args...), Pos: p, kind: kind}
}

// addTrace appends a frame to err (an *EvalError) and returns it.
func addTrace(err error, p Pos, msg string) error {
	if e, ok := err.(*EvalError); ok {
		e.Frames = append(e.Frames, Frame{Pos: p, Msg: msg})
	}
	return err
}

func addTracef(err error, p Pos, format string, args ...any) error {
	if e, ok := err.(*EvalError); ok {
		e.Frames = append(e.Frames, Frame{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
	return err
}

// withTrace is CppNix's .withTrace(pos, ctx) on a fresh error.
func (e *EvalError) withTrace(p Pos, msg string) *EvalError {
	if msg != "" || p != 0 {
		e.Frames = append(e.Frames, Frame{Pos: p, Msg: msg})
	}
	return e
}

// typeError builds "expected X but found Y: <value>".
func (ev *Evaluator) typeError(expected string, v Value, p Pos) *EvalError {
	return &EvalError{Msg: fmt.Sprintf("expected %s but found %s: %s", expected, showType(v, true), ev.printValueErr(v)), Pos: p, kind: errType}
}
