package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// ShellOptions are the flags of `cairn shell` (nix shell).
type ShellOptions struct {
	F     *Factory
	Eval  EvalFlags
	Build BuildFlags
	Inst  InstallableFlags
	// Command is what -c / --command runs instead of the shell.
	Command  []string
	ShowHelp bool
}

func newShellCmd(f *Factory, runF func(*ShellOptions) error) func([]string) error {
	return func(args []string) error {
		o := &ShellOptions{F: f, Build: BuildFlags{Cores: -1}}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if ok, err := parseBuildOrInstallableFlag(s, arg, &o.Build, &o.Inst); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "-c", "--command":
				for s.more() {
					o.Command = append(o.Command, s.next())
				}
				if len(o.Command) == 0 {
					return &usageError{f.Prog, fmt.Sprintf("flag '%s' requires at least 1 argument", arg)}
				}
			default:
				if err := evalFlagOrArg(s, arg, &o.Eval, &o.Inst.Args); err != nil {
					return err
				}
			}
		}
		return runF(o)
	}
}

const shellHelp = `Usage: cairn shell [options...] installables... [-c command args...]

Builds the installables and starts a shell ($SHELL, else bash, else sh)
with the bin/ directory of each of their outputs (and of the packages
listed in their nix-support/propagated-user-env-packages) in front of
PATH, like nix shell. Nothing is installed in any profile. Installables:

  FILE [-A ATTR]..., -f FILE ATTR..., -E EXPR [-A ATTR]...
  /nix/store/x.drv[^out,dev|^*], /nix/store/x (a valid store path)

  -c, --command CMD ARGS...   run CMD instead of the shell
  and cairn build's build and evaluation flags (--store, -j, --option ...)
`

// runShell is `cairn shell`.
func runShell(ctx context.Context, o *ShellOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, shellHelp)
		return err
	}
	return withBuiltInstallables(ctx, f, &o.Eval, &o.Build, &o.Inst, func(st *local.Store, _ []resolvedInstallable, paths [][]storepath.Path, _ *bufio.Writer) error {
		var flat []storepath.Path
		for _, ps := range paths {
			flat = append(flat, ps...)
		}
		path, err := shellPath(st, flat, f.getenv("PATH"))
		if err != nil {
			return err
		}
		env := setEnv(f.Environ, "PATH", path)
		p := storeProgram{env: env}
		if len(o.Command) > 0 {
			p.name, p.args = o.Command[0], o.Command[1:]
		} else {
			p.name, p.interactive = defaultShell(f, env), true
		}
		return runInStore(ctx, f, st, p)
	}, nil)
}

// withBuiltInstallables opens a session and its store, resolves and
// builds the installables, and calls fn with their output paths. before,
// if not nil, runs first with the session (to evaluate more).
func withBuiltInstallables(ctx context.Context, f *Factory, c *EvalFlags, b *BuildFlags, in *InstallableFlags, fn func(st *local.Store, ins []resolvedInstallable, paths [][]storepath.Path, out *bufio.Writer) error, before func(s *session) error) error {
	return withSession(ctx, f, c, storeReadWrite, func(s *session, out *bufio.Writer) error {
		st, err := buildStore(s)
		if err != nil {
			return err
		}
		if before != nil {
			if err := before(s); err != nil {
				return err
			}
		}
		ins, err := resolveInstallables(ctx, s, st, in)
		if err != nil {
			return err
		}
		paths, err := realiseInstallables(ctx, f, st, c, b, ins)
		if err != nil {
			return err
		}
		return fn(st, ins, paths, out)
	})
}

// shellPath is PATH for `cairn shell` as Nix 2.8 computes it: each path
// (and, transitively, the paths its nix-support/propagated-user-env-packages
// lists) puts its bin/ in front of the ones before, so the last comes
// first, then the caller's PATH.
func shellPath(st *local.Store, paths []storepath.Path, callerPath string) (string, error) {
	var dirs []string
	if callerPath != "" {
		dirs = strings.Split(callerPath, ":")
	}
	done := map[storepath.Path]bool{}
	todo := append([]storepath.Path(nil), paths...)
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		if done[p] {
			continue
		}
		done[p] = true
		dirs = append([]string{st.Dir().Print(p) + "/bin"}, dirs...)
		prop := filepath.Join(st.RealStoreDir(), p.String(), "nix-support", "propagated-user-env-packages")
		b, err := os.ReadFile(prop)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return "", fmt.Errorf("reading propagated packages: %w", err)
		}
		for _, w := range strings.Fields(string(b)) {
			q, err := st.Dir().Parse(w)
			if err != nil {
				return "", fmt.Errorf("%s: %w", st.Dir().Print(p)+"/nix-support/propagated-user-env-packages", err)
			}
			todo = append(todo, q)
		}
	}
	return strings.Join(dirs, ":"), nil
}

// defaultShell is $SHELL, else bash, else sh, looked up in env's PATH.
func defaultShell(f *Factory, env []string) string {
	if sh := f.getenv("SHELL"); sh != "" {
		return sh
	}
	isExec := func(p string) bool { fi, err := os.Stat(p); return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 }
	if _, err := lookPathIn("bash", envValue(env, "PATH"), isExec); err == nil {
		return "bash"
	}
	return "sh"
}

// shellCommands are shell, run, develop and print-dev-env.
func shellCommands() []command {
	return []command{
		{"shell", "start a shell with packages on PATH, installing nothing, like nix shell", func(ctx context.Context, f *Factory, args []string) error {
			return newShellCmd(f, func(o *ShellOptions) error { return runShell(ctx, o) })(args)
		}},
		{"run", "build a package and run its program, like nix run", func(ctx context.Context, f *Factory, args []string) error {
			return newRunCmd(f, func(o *RunOptions) error { return runRun(ctx, o) })(args)
		}},
		{"develop", "start a shell in the build environment of a derivation, like nix develop", func(ctx context.Context, f *Factory, args []string) error {
			return newDevelopCmd(f, false, func(o *DevelopOptions) error { return runDevelop(ctx, o) })(args)
		}},
		{"print-dev-env", "print the build environment of a derivation as shell code or JSON, like nix print-dev-env", func(ctx context.Context, f *Factory, args []string) error {
			return newDevelopCmd(f, true, func(o *DevelopOptions) error { return runDevelop(ctx, o) })(args)
		}},
	}
}
