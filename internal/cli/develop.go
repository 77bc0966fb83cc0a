package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// DevelopOptions are the flags of `cairn develop` (nix develop) and
// `cairn print-dev-env` (nix print-dev-env).
type DevelopOptions struct {
	F     *Factory
	Eval  EvalFlags
	Build BuildFlags
	Inst  InstallableFlags
	// Print is print-dev-env: write the environment instead of starting
	// a shell; JSON writes it as Nix 2.8's --json does.
	Print, JSON bool
	Phase       string   // --phase NAME, --build, --install, ...
	Command     []string // -c / --command
	ShowHelp    bool
}

func newDevelopCmd(f *Factory, print bool, runF func(*DevelopOptions) error) func([]string) error {
	return func(args []string) error {
		o := &DevelopOptions{F: f, Build: BuildFlags{Cores: -1}, Print: print}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if ok, err := parseBuildOrInstallableFlag(s, arg, &o.Build, &o.Inst); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			var err error
			switch {
			case arg == "--help" || arg == "-h":
				o.ShowHelp = true
			case arg == "--json" && print:
				o.JSON = true
			case arg == "--phase" && !print:
				o.Phase, err = s.value(arg)
			case !print && (arg == "--unpack" || arg == "--configure" || arg == "--build" || arg == "--check" || arg == "--install" || arg == "--installcheck"):
				o.Phase = arg[2:]
				if o.Phase == "installcheck" {
					o.Phase = "installCheck"
				}
			case !print && (arg == "-c" || arg == "--command"):
				for s.more() {
					o.Command = append(o.Command, s.next())
				}
				if len(o.Command) == 0 {
					err = &usageError{f.Prog, fmt.Sprintf("flag '%s' requires at least 1 argument", arg)}
				}
			default:
				err = evalFlagOrArg(s, arg, &o.Eval, &o.Inst.Args)
			}
			if err != nil {
				return err
			}
		}
		if o.Phase != "" && len(o.Command) > 0 {
			return &usageError{f.Prog, "you cannot use both '--command' and '--phase'"}
		}
		return runF(o)
	}
}

const developHelp = `Usage: cairn develop [options...] installable [--phase NAME | -c command args...]

Starts a shell in the build environment of a derivation, like nix
develop: the variables its builder gets (the outputs redirected to
./outputs/NAME, NIX_BUILD_TOP and TMPDIR a fresh temporary directory),
then $stdenv/setup if the derivation has one. genericBuild runs the
build (without a stdenv setup: the derivation's builder).

  --phase NAME       run one phase (unpack, configure, build, check,
                     install, ...) and exit; also --build, --install, ...
  -c, --command CMD ARGS...   run CMD (a program or a shell function)
  Installables, build and evaluation flags as for cairn shell.
`

const printDevEnvHelp = `Usage: cairn print-dev-env [options...] installable

Prints the shell code that sets up the build environment of a
derivation (as cairn develop does), like nix print-dev-env.

  --json   print {"variables":{NAME:{"type":"exported","value":...}},
           "bashFunctions":{}} as Nix 2.8's --json does
`

// runDevelop is `cairn develop` and `cairn print-dev-env`.
func runDevelop(ctx context.Context, o *DevelopOptions) error {
	f := o.F
	if o.ShowHelp {
		help := developHelp
		if o.Print {
			help = printDevEnvHelp
		}
		_, err := io.WriteString(f.Stdout, help)
		return err
	}
	return withSession(ctx, f, &o.Eval, storeReadWrite, func(s *session, out *bufio.Writer) error {
		st, err := buildStore(s)
		if err != nil {
			return err
		}
		ins, err := resolveInstallables(ctx, s, st, &o.Inst)
		if err != nil {
			return err
		}
		if len(ins) != 1 || ins[0].drv == (storepath.Path{}) {
			return fmt.Errorf("'%s' needs exactly one installable that is a derivation, got %d installables", f.Prog, len(ins))
		}
		drv, err := st.ReadDerivation(ctx, ins[0].drv)
		if err != nil {
			return err
		}
		if err := realiseInputs(ctx, f, st, &o.Eval, &o.Build, drv); err != nil {
			return err
		}
		cwd, err := f.Cwd()
		if err != nil {
			return fmt.Errorf("getting the working directory: %w", err)
		}
		bs, err := resolveBuildSettings(f, &o.Eval, &o.Build)
		if err != nil {
			return err
		}
		cores := bs.cores
		if cores <= 0 {
			cores = runtime.NumCPU() // as the builder does
		}
		env := newDevEnv(st.Dir(), drv, filepath.Join(cwd, "outputs"), cores)
		if o.Print {
			if o.JSON {
				_, err = out.Write(env.json())
			} else {
				_, err = out.WriteString(env.script())
			}
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		return startDevShell(ctx, f, st, drv, env, o)
	})
}

// startDevShell writes the environment script and runs it: the phase or
// the command, or an interactive shell that runs shellHook first.
func startDevShell(ctx context.Context, f *Factory, st *local.Store, drv *derivation.Derivation, env *devEnv, o *DevelopOptions) error {
	script := env.script()
	interactive := false
	switch {
	case o.Phase != "":
		script += phaseScript(o.Phase)
	case len(o.Command) > 0:
		script += commandScript(o.Command)
	default:
		interactive = true
		script = "[ -n \"$PS1\" ] && [ -e ~/.bashrc ] && . ~/.bashrc;\n" + script
	}
	rc, err := os.CreateTemp(firstNonEmpty(f.getenv("TMPDIR"), os.TempDir()), "cairn-develop-rc-")
	if err != nil {
		return fmt.Errorf("writing the shell's rc file: %w", err)
	}
	defer os.Remove(rc.Name())
	if _, err := rc.WriteString(script); err != nil {
		rc.Close()
		return fmt.Errorf("writing the shell's rc file: %w", err)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("writing the shell's rc file: %w", err)
	}
	sh := developShell(f, drv)
	p := storeProgram{name: sh, argv0: filepath.Base(sh), env: f.Environ, interactive: interactive}
	switch {
	case !interactive:
		p.args = []string{rc.Name()}
	case filepath.Base(sh) == "bash":
		p.args = []string{"--rcfile", rc.Name()}
	default:
		p.args = []string{"-i"}
		p.env = setEnv(f.Environ, "ENV", rc.Name())
	}
	return runInStore(ctx, f, st, p)
}

// developShell is the shell develop runs: bash from the caller's PATH,
// else the derivation's builder if it is a shell, else sh.
func developShell(f *Factory, drv *derivation.Derivation) string {
	isExec := func(p string) bool { fi, err := os.Stat(p); return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 }
	if p, err := lookPathIn("bash", f.getenv("PATH"), isExec); err == nil {
		return p
	}
	switch filepath.Base(drv.Builder) {
	case "sh", "bash", "ash":
		return drv.Builder
	}
	return "sh"
}
