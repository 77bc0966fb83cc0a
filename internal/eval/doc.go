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
// 10000. Run evaluates on its own goroutine; frames on the call path are
// kept small (about 1 KiB per Nix call level) and depth is capped at
// 1.1 million so the Go runtime's stack ceiling is never reached.
//
// # Adding a builtin
//
// Builtins are Primop values registered by createBaseEnv from the table
// functions in builtins.go and iobuiltins.go (coreBuiltins, listBuiltins,
// attrBuiltins, stringBuiltins, ioBuiltins, extraBuiltins). Add an entry
//
//	{Name: "__foo", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) { ... }}
//
// to one of them (or to a new table function listed in allBuiltins).
// Names starting with "__" are only reachable as builtins.foo; others are
// also global. Arity 0 makes a lazily evaluated constant. If the name is
// not in builtinOrder (CppNix's registration order, which decides symbol
// ids), it is registered after the known ones.
//
// Inside a primop, arguments may be thunks: use ev.force, ev.forceInt,
// ev.forceString, ev.forceStringNoCtx, ev.forceAttrs, ev.forceList,
// ev.forceFunction (each takes the errorCtx string CppNix uses, e.g.
// "while evaluating the first argument passed to builtins.foo" = "while evaluating the first argument passed to
// builtins.foo"), ev.coerceToString for string coercion with context,
// ev.callFunction to call Nix functions, ev.newApp for lazy applications,
// and ev.ferr for plain errors. Return errors unchanged: the caller adds
// "while calling the 'foo' builtin".
package eval
