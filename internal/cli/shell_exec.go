package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// This file holds what shell, run, develop and print-dev-env share:
// parsing and realising installables, and running a program that sees
// the store at its logical place (Nix's runProgramInStore).

// InstallableFlags are the installable arguments of shell, run, develop
// and print-dev-env: Nix files, -f FILE attributes, -E expressions,
// .drv paths (x.drv^out) and store paths that are already valid.
type InstallableFlags struct {
	File      string   // -f / --file
	Exprs     []string // -E / --expr
	AttrPaths []string // -A / --attr
	Args      []string // positional installables
}

// parseInstallableFlag handles arg if it is an installable flag.
func parseInstallableFlag(s *argScanner, arg string, in *InstallableFlags) (bool, error) {
	var err error
	switch arg {
	case "-f", "--file":
		in.File, err = s.value(arg)
	case "-E", "--expr":
		var e string
		e, err = s.value(arg)
		in.Exprs = append(in.Exprs, e)
	case "-A", "--attr":
		var a string
		a, err = s.value(arg)
		in.AttrPaths = append(in.AttrPaths, a)
	default:
		return false, nil
	}
	return true, err
}

// parseBuildOrInstallableFlag handles arg if it is a build flag or an
// installable flag.
func parseBuildOrInstallableFlag(s *argScanner, arg string, b *BuildFlags, in *InstallableFlags) (bool, error) {
	if ok, err := parseBuildFlag(s, arg, b); ok || err != nil {
		return true, err
	}
	return parseInstallableFlag(s, arg, in)
}

// buildStore is the session's store, which must be a local store.
func buildStore(s *session) (*local.Store, error) {
	st, err := s.io.Store()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("building needs a local store (--store /some/dir or local?root=/some/dir)")
	}
	return st, nil
}

// resolvedInstallable is an installable after evaluation: a derivation
// to build (drv set) or a store path that is valid already.
type resolvedInstallable struct {
	installable
	path storepath.Path // set for plain store paths
}

// resolveInstallables evaluates and instantiates the installables of in.
// Store paths that are not derivations are taken as they are and must be
// valid.
func resolveInstallables(ctx context.Context, s *session, st *local.Store, in *InstallableFlags) ([]resolvedInstallable, error) {
	var out []resolvedInstallable
	bo := &BuildOptions{File: in.File, Exprs: in.Exprs, AttrPaths: in.AttrPaths}
	if in.File == "" && len(in.Exprs) == 0 {
		for _, a := range in.Args {
			if !strings.HasSuffix(strings.SplitN(strings.SplitN(a, "^", 2)[0], "!", 2)[0], ".drv") && isStorePathArg(s.f, st.Dir(), a) {
				p, err := storePathArg(s.f, st.Dir(), a)
				if err != nil {
					return nil, err
				}
				ok, err := st.IsValid(ctx, p)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, fmt.Errorf("path '%s' is not valid and there is no substituter to fetch it", st.Dir().Print(p))
				}
				out = append(out, resolvedInstallable{path: p})
				continue
			}
			bo.Args = append(bo.Args, a)
		}
		if len(in.Args) > 0 && len(bo.Args) == 0 {
			return out, nil
		}
	} else {
		bo.Args = in.Args
	}
	ins, err := buildInstallables(s, st, bo)
	if err != nil {
		return nil, err
	}
	for _, i := range ins {
		out = append(out, resolvedInstallable{installable: i})
	}
	return out, nil
}

// isStorePathArg reports whether arg names something inside the store.
func isStorePathArg(f *Factory, dir storepath.Dir, arg string) bool {
	abs, err := f.abs(arg)
	if err != nil {
		return false
	}
	return strings.HasPrefix(abs, string(dir)+"/")
}

// realiseInstallables builds the derivations among ins and returns the
// output paths of each installable (the outputs it asks for, all if
// none), in order.
func realiseInstallables(ctx context.Context, f *Factory, st *local.Store, c *EvalFlags, flags *BuildFlags, ins []resolvedInstallable) ([][]storepath.Path, error) {
	var drvs []storepath.Path
	for _, in := range ins {
		if in.drv != (storepath.Path{}) {
			drvs = append(drvs, in.drv)
		}
	}
	if len(drvs) > 0 {
		bl, err := newBuilder(f, st, c, flags)
		if err != nil {
			return nil, err
		}
		if _, err := bl.realise(ctx, drvs, false); err != nil {
			return nil, err
		}
	}
	out := make([][]storepath.Path, len(ins))
	for i, in := range ins {
		if in.drv == (storepath.Path{}) {
			out[i] = []storepath.Path{in.path}
			continue
		}
		names, outs, err := builtOutputs(ctx, st, in.installable)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out[i] = append(out[i], outs[n])
		}
	}
	return out, nil
}

// realiseInputs builds the input derivations of drv (what its builder
// needs), not drv itself.
func realiseInputs(ctx context.Context, f *Factory, st *local.Store, c *EvalFlags, flags *BuildFlags, drv *derivation.Derivation) error {
	if len(drv.InputDrvs) == 0 {
		return nil
	}
	var drvs []storepath.Path
	for p := range drv.InputDrvs {
		sp, err := st.Dir().Parse(p)
		if err != nil {
			return err
		}
		drvs = append(drvs, sp)
	}
	bl, err := newBuilder(f, st, c, flags)
	if err != nil {
		return err
	}
	_, err = bl.realise(ctx, drvs, false)
	return err
}

// storeProgram is a program to run with the store's paths visible.
type storeProgram struct {
	name  string   // program: an absolute path, or a name looked up in PATH of env
	args  []string // argv after argv[0]
	argv0 string   // argv[0] ("" means name)
	env   []string
	dir   string
	// interactive means the program needs the terminal's standard input.
	interactive bool
}

// runInStore runs p as Nix's runProgramInStore does. When the store is
// at its logical place the program runs directly, with the caller's
// standard streams. When it is a chroot store (--store /some/dir), the
// program runs in new user, mount and PID namespaces that show the
// host's file system with the real store directory mounted on the
// logical one (so #! lines and references into /nix/store work), as the
// caller's ids, with the host network; there its standard input is
// /dev/null, so an interactive program is refused. A non-zero exit
// status becomes an exitError with the same status.
func runInStore(ctx context.Context, f *Factory, st *local.Store, p storeProgram) error {
	logical := string(st.Dir())
	realDir := st.RealStoreDir()
	chroot := realDir != logical
	exists := func(path string) bool {
		if chroot && (path == logical || strings.HasPrefix(path, logical+"/")) {
			path = realDir + strings.TrimPrefix(path, logical)
		}
		fi, err := os.Stat(path)
		return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
	}
	prog, err := lookPathIn(p.name, envValue(p.env, "PATH"), exists)
	if err != nil {
		return err
	}
	argv0 := firstNonEmpty(p.argv0, p.name)
	if !chroot {
		// Not tied to ctx: as with Nix, which execs the program, a
		// terminal's Ctrl-C is the program's to handle (cairn's own
		// handler only cancels ctx), and cairn waits for it.
		cmd := exec.Command(prog, p.args...)
		cmd.Args[0] = argv0
		cmd.Env, cmd.Dir = p.env, p.dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f.Stdin, f.Stdout, f.Stderr
		return programExit(cmd.Run())
	}
	if p.interactive {
		return fmt.Errorf("an interactive program cannot run with store '%s' (really at '%s'): its standard input would be /dev/null; give a command with -c, or use the store at %s", logical, realDir, logical)
	}
	return runInStoreNamespace(ctx, f, logical, realDir, prog, append([]string{argv0}, p.args...), p)
}

// runInStoreNamespace runs argv in a sandbox that shows the host's
// top-level directories, with realDir mounted on logical.
func runInStoreNamespace(ctx context.Context, f *Factory, logical, realDir, prog string, argv []string, p storeProgram) error {
	tmp := firstNonEmpty(envValue(p.env, "TMPDIR"), f.getenv("TMPDIR"), os.TempDir())
	root, err := os.MkdirTemp(tmp, "cairn-store-ns-")
	if err != nil {
		return fmt.Errorf("creating the namespace root: %w", err)
	}
	defer os.RemoveAll(root)
	top := strings.SplitN(strings.TrimPrefix(logical, "/"), "/", 2)[0]
	entries, err := os.ReadDir("/")
	if err != nil {
		return fmt.Errorf("listing /: %w", err)
	}
	var mounts []sandbox.Mount
	for _, e := range entries {
		switch e.Name() {
		case "proc", "dev", top:
			continue
		}
		src := "/" + e.Name()
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			continue
		}
		mounts = append(mounts, sandbox.Mount{Source: src, Target: src, Optional: true})
	}
	mounts = append(mounts, sandbox.Mount{Source: realDir, Target: logical})
	dir := p.dir
	if dir == "" {
		if dir, err = f.Cwd(); err != nil {
			return fmt.Errorf("getting the working directory: %w", err)
		}
	}
	host, _ := os.Hostname()
	stdout, waitOut, err := osFile(f.Stdout)
	if err != nil {
		return err
	}
	stderr, waitErr, err := osFile(f.Stderr)
	if err != nil {
		waitOut()
		return err
	}
	proc, err := sandbox.Start(ctx, &sandbox.Spec{
		Root: root, Mounts: mounts, Network: true, Hostname: host,
		Path: prog, Args: argv, Env: p.env, Dir: dir,
		UID: os.Getuid(), GID: os.Getgid(), HostUID: -1, HostGID: -1,
		Stdout: stdout, Stderr: stderr,
		NoSeccomp: true, AllowNewPrivileges: true,
	})
	if err != nil {
		waitOut()
		waitErr()
		return err
	}
	stop := context.AfterFunc(ctx, func() { proc.Kill() })
	werr := proc.Wait()
	stop()
	waitOut()
	waitErr()
	return programExit(werr)
}

// osFile returns w as an *os.File: itself, or the write end of a pipe
// copied to w until the returned wait is called (after the program has
// exited).
func osFile(w io.Writer) (*os.File, func(), error) {
	if file, ok := w.(*os.File); ok {
		return file, func() {}, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("creating a pipe: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(w, r)
		r.Close()
	}()
	return pw, func() { pw.Close(); wg.Wait() }, nil
}

// programExit turns a program's exit into cairn's exit status.
func programExit(err error) error {
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code := xe.ExitCode()
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as a shell reports it
		}
		return &exitError{code: code}
	}
	return err
}

// lookPathIn finds name as a shell does: a name with a slash is taken as
// it is, others are looked up in the directories of path.
func lookPathIn(name, path string, exists func(string) bool) (string, error) {
	if strings.Contains(name, "/") {
		if !exists(name) {
			return "", fmt.Errorf("unable to execute '%s': no such executable file", name)
		}
		return name, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		if c := filepath.Join(d, name); exists(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("unable to execute '%s': not found in PATH", name)
}

// envValue returns the last value of key in env.
func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// setEnv returns env with key set to value (replacing earlier values).
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
