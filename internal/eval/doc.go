// Package eval is the Nix evaluator: a value model, a scope-resolving
// compiler from the lang/ast tree, a lazy tree-walking interpreter, the
// pure builtins, printing (nix-instantiate --eval, --xml, toJSON, error
// messages) and Nix's error layout.
//
// # API
//
//	ev := eval.New(eval.Options{IO: io, Compat: eval.CompatCurrent(), ...})
//	err := ev.Run(func() error {          // big-stack goroutine
//	        v, err := ev.EvalMainFile(path) // or EvalString / ParseString+CompileExpr+Eval
//	        if err != nil { return err }
//	        if err := ev.ForceDeep(v); err != nil { return err } // --strict
//	        return ev.PrintAmbiguous(os.Stdout, v)
//	})
//	if err != nil { fmt.Fprint(os.Stderr, ev.FormatError(err, showTrace)) }
//
// Values are 16-byte structs (Value) with no interface boxing; Kind tells
// the type. Lazy slots hold thunks (Thunk), which are updated in place and
// blackholed while running. Force/ForceDeep evaluate. Errors are
// *EvalError with CppNix's trace frames; FormatError renders them exactly
// as Nix does. Nothing here reads the process environment or writes to
// stdout: file access and the store go through the IO interface, and
// trace/warning output goes to Options.Trace.
//
// CheckExpr reports the bind-time errors of a parsed expression (undefined
// variables) without compiling it; `--parse` uses it.
//
// Calls: a builtin of the base scope applied to exactly its arity is
// called directly; `a: b: body` applied to two arguments gets both
// environments in one allocation; a lambda whose body cannot leak its
// environment (noEscape: it only reads variables and calls strict
// builtins and operators) runs in reused scratch memory.
//
// Compat selects behaviour that differs between current Nix (the language
// suite) and Nix 2.8 (nixpkgs parity): CompatCurrent, CompatNix28.
//
// # The IO interface
//
// Everything outside the language goes through Options.IO (implemented by
// glue; tests use a fake): ReadFile, ReadDir, Lstat, PathExists,
// CopyPathToStore (path interpolation; memoised per path here),
// AddTextToStore (builtins.toFile), AddPathToStore (builtins.path and
// filterSource, with a filter callback into the evaluator) and
// AddDerivation (derivationStrict: the evaluator does the attribute
// processing, ordering, context collection and error messages, and hands
// a DerivationRequest to IO, which builds the ATerm, computes
// hashDerivationModulo and the output paths, and writes the .drv).
// <nix/fetchurl.nix> is served from the embedded 2.8 corepkg.
// Fetchers (fetchurl, fetchTarball, fetchGit, fetchTree) are not part of
// this package: glue registers them with Options.ExtraBuiltins using the
// exported helpers in api.go (ForceAttrs, ForceString, CoerceToPath, Call,
// Errorf, NewAttrs, ...).
//
// # Depth and stack
//
// Call depth is counted exactly as CppNix (callFunction, eqValues,
// coerceToString, forceValueDeep, toJSON, printing); the default limit is
// 10000 (Options.MaxCallDepth). Run evaluates on its own goroutine, and
// every 20000 nested calls or thunk forces evaluation continues on a fresh
// goroutine while the previous one waits (hop), so no goroutine stack
// approaches the Go runtime's fatal 1 GB ceiling whatever the limit; a
// million-deep recursion with a raised limit works.
package eval
