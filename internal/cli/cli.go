// Package cli is cairn's command tree. It is the only package that reads
// flags, the environment and os.Args, and the only one that writes to the
// process's standard streams (through the Factory it is given).
//
// Each command has an options struct, newXCmd(f, runF) that parses
// arguments into it and calls runF (tests pass their own runF to check
// flag parsing), and runX(ctx, opts) that does the work. Errors map to exit
// codes in exactly one function, exitCode.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/eval"
	"cairn/internal/lang/token"
)

// Factory carries what commands need from the process: standard streams,
// the environment and the working directory.
type Factory struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Environ is the process environment as KEY=VALUE strings.
	Environ []string
	// Dir is the working directory ("" means os.Getwd()).
	Dir string
	// Prog is how usage messages name the program ("cairn").
	Prog string
	// Exits says the process exits when the command returns: the store
	// is closed with local.Store.CloseForExit.
	Exits bool
}

// Getenv returns the value of the environment variable key.
func (f *Factory) Getenv(key string) (string, bool) {
	for i := len(f.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(f.Environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (f *Factory) getenv(key string) string { v, _ := f.Getenv(key); return v }

// Cwd returns the working directory.
func (f *Factory) Cwd() (string, error) {
	if f.Dir != "" {
		return f.Dir, nil
	}
	return os.Getwd()
}

// abs makes p absolute against the working directory, without resolving
// symlinks (Nix's absPath).
func (f *Factory) abs(p string) (string, error) {
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	cwd, err := f.Cwd()
	if err != nil {
		return "", fmt.Errorf("getting the working directory: %w", err)
	}
	return filepath.Join(cwd, p), nil
}

// command is one subcommand of cairn.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, f *Factory, args []string) error
}

func commands() []command {
	return append([]command{
		{"instantiate", "evaluate Nix expressions and instantiate derivations, like nix-instantiate", func(ctx context.Context, f *Factory, args []string) error {
			// Messages name the program as nix-instantiate does
			// ("Try 'nix-instantiate --help'"), so output matches Nix's.
			f.Prog = "nix-instantiate"
			return newInstantiateCmd(f, func(o *InstantiateOptions) error { return runInstantiate(ctx, o) })(args)
		}},
		{"eval", "evaluate a Nix expression and print its value, like nix eval", func(ctx context.Context, f *Factory, args []string) error {
			return newEvalCmd(f, func(o *EvalOptions) error { return runEval(ctx, o) })(args)
		}},
		{"repl", "read-eval-print loop for Nix expressions, like nix repl", func(ctx context.Context, f *Factory, args []string) error {
			return newReplCmd(f, func(o *ReplOptions) error { return runRepl(ctx, o) })(args)
		}},
		{"demo", "a guided tour: evaluate an embedded example and show each step", func(ctx context.Context, f *Factory, args []string) error {
			return newDemoCmd(f, func(o *DemoOptions) error { return runDemo(ctx, o) })(args)
		}},
		{"env", "list the packages of an expression, like nix-env -qa", func(ctx context.Context, f *Factory, args []string) error {
			return newEnvCmd(f, func(o *EnvOptions) error { return runEnv(ctx, o) })(args)
		}},
		{"profile", "manage profiles: install, remove, list, history, rollback, wipe-history, diff-closures", func(ctx context.Context, f *Factory, args []string) error {
			return runGroup(ctx, f, "profile", profileSubcommands(), args)
		}},
		{"key", "generate and convert the keys that sign binary caches: generate-secret, convert-secret-to-public", func(ctx context.Context, f *Factory, args []string) error {
			return runGroup(ctx, f, "key", keySubcommands(), args)
		}},
		{"copy", "copy store path closures between stores and binary caches, like nix copy", func(ctx context.Context, f *Factory, args []string) error {
			return newCopyCmd(f, func(o *CopyOptions) error { return runCopy(ctx, o) })(args)
		}},
		{"serve", "serve the store as a binary cache over HTTP", func(ctx context.Context, f *Factory, args []string) error {
			return newServeCmd(f, func(o *ServeOptions) error { return runServe(ctx, o) })(args)
		}},
	}, append(shellCommands(), withBuildCommands(storeCommands())...)...)
}

// Main runs cairn with args (os.Args: the program name first) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	return run(ctx, &Factory{Stdin: stdin, Stdout: stdout, Stderr: stderr, Environ: environ, Prog: "cairn"}, args)
}

// MainThenExit is Main for a process that exits when it returns (see
// Factory.Exits).
func MainThenExit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	return run(ctx, &Factory{Stdin: stdin, Stdout: stdout, Stderr: stderr, Environ: environ, Prog: "cairn", Exits: true}, args)
}

// run dispatches args, reports the error and returns the exit code.
func run(ctx context.Context, f *Factory, args []string) int {
	err := dispatch(ctx, f, args)
	report(f.Stderr, err)
	return exitCode(err)
}

func dispatch(ctx context.Context, f *Factory, args []string) error {
	// Called as nix-instantiate (a symlink to cairn): behave like it.
	if len(args) > 0 && filepath.Base(args[0]) == "nix-instantiate" {
		f.Prog = "nix-instantiate"
		return newInstantiateCmd(f, func(o *InstantiateOptions) error { return runInstantiate(ctx, o) })(args[1:])
	}
	if len(args) < 2 {
		usage(f.Stderr)
		return &topUsageError{}
	}
	name := args[1]
	switch name {
	case "-h", "--help", "help":
		usage(f.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			f.Prog = "cairn " + name
			return c.run(ctx, f, args[2:])
		}
	}
	return &topUsageError{fmt.Sprintf("unknown command '%s' (try 'cairn help')", name)}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cairn <command> [arguments]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.short)
	}
}

// topUsageError is a bad command line at the top level (exit status 2);
// an empty msg means the usage text was printed already.
type topUsageError struct{ msg string }

func (e *topUsageError) Error() string { return e.msg }

// usageError is a bad command line inside a command; Nix prints it with a
// hint to --help and exits with status 1.
type usageError struct {
	prog, msg string
}

func (e *usageError) Error() string { return e.msg }

// evalError is an evaluation failure, rendered with the positions of the
// evaluator that produced it.
type evalError struct {
	err       error
	fset      *token.FileSet
	showTrace bool
	prog      string // for the "Try '<prog> --help'" line of usage errors
}

func (e *evalError) Error() string { return e.err.Error() }
func (e *evalError) Unwrap() error { return e.err }

// exitError ends the process with a given status after its message (if
// any) has been printed.
type exitError struct {
	code int
}

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error returned by a command to the process exit code.
// Like Nix, every failure (bad flags, parse and evaluation errors, I/O)
// exits with status 1; a bad top-level command line exits with 2.
func exitCode(err error) int {
	var (
		xe *exitError
		te *topUsageError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &te):
		return 2
	default:
		return 1
	}
}

// report prints err to w as Nix does ("error: …" with a hanging indent).
func report(w io.Writer, err error) {
	var (
		ue *usageError
		ee *evalError
		xe *exitError
		te *topUsageError
	)
	switch {
	case err == nil, errors.As(err, &xe):
	case errors.As(err, &te):
		if te.msg != "" {
			fmt.Fprintf(w, "error: %s\n", te.msg)
		}
	case errors.As(err, &ee):
		io.WriteString(w, eval.FormatError(ee.fset, ee.err, ee.showTrace))
		var x *eval.EvalError
		if errors.As(ee.err, &x) && x.Usage {
			fmt.Fprintf(w, "Try '%s --help' for more information.\n", ee.prog)
		}
	case errors.As(err, &ue):
		fmt.Fprintf(w, "error: %s\nTry '%s --help' for more information.\n", ue.msg, ue.prog)
	default:
		io.WriteString(w, eval.FormatError(token.NewFileSet(), err, false))
	}
}
