package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/glue"
	"cairn/internal/lang/ast"
	"cairn/internal/store/local"
)

// storeMode says what a command needs from the store.
type storeMode uint8

const (
	// storeReadOnly computes store paths and writes nothing (Nix's
	// read-only mode: nix-instantiate --eval, --parse).
	storeReadOnly storeMode = iota
	// storeReadWrite writes to the store; failing to open it is an error.
	storeReadWrite
	// storeAuto writes if the store can be written, and otherwise only
	// computes paths: evaluation commands keep working for a user who
	// cannot write /nix.
	storeAuto
)

// session is one evaluator wired to the file system and a store.
type session struct {
	ctx  context.Context
	f    *Factory
	cfg  config
	cwd  string
	io   *glue.IO
	ev   *eval.Evaluator
	args []AutoArg
	// nix28 is set by --compat 2.8: print as Nix 2.8 where its command
	// line output differs from current Nix.
	nix28 bool

	stopProfile func() error
}

// newSession builds the evaluator for flags c. Call close when done.
func newSession(ctx context.Context, f *Factory, c *EvalFlags, mode storeMode) (*session, error) {
	cfg, err := resolveConfig(f, c)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.warnings {
		fmt.Fprintf(f.Stderr, "warning: %s\n", w)
	}
	cwd, err := f.Cwd()
	if err != nil {
		return nil, fmt.Errorf("getting the working directory: %w", err)
	}
	setGCPolicy(f)
	if c.MemProfile == "" {
		// The runtime samples an allocation every 512 KiB for memory
		// profiles, at a cost (stack walks, a bucket table touched page by
		// page) that a cairn process only needs for --memprofile: 1.5% of
		// the CPU of --parse over nixpkgs.
		runtime.MemProfileRate = 0
	}

	storeDir := storepath.DefaultDir
	if d := f.getenv("NIX_STORE_DIR"); d != "" {
		storeDir = storepath.Dir(strings.TrimRight(d, "/"))
	}
	spec := cfg.store
	if spec == "" {
		spec = f.getenv("NIX_REMOTE")
	}
	u, err := glue.ParseStoreURL(spec)
	switch {
	case errors.Is(err, glue.ErrUnsupportedStore) && mode != storeReadWrite:
		// e.g. NIX_REMOTE=daemon: evaluation does not need the store's
		// contents, so compute paths as Nix's read-only mode does.
		if mode == storeAuto {
			fmt.Fprintf(f.Stderr, "warning: %v; store paths are computed but nothing is added to the store\n", err)
		}
		u, mode = glue.StoreURL{Kind: glue.StoreDummy}, storeReadOnly
	case err != nil:
		return nil, err
	}
	u.StoreDir = storeDir
	gopts := glue.Options{StoreDir: storeDir, Root: u.Root}
	switch {
	case mode == storeReadOnly:
	case mode == storeAuto && u.Default && !u.Writable():
		// The system store is not writable by this user: evaluate like
		// Nix's read-only mode (paths computed, nothing written).
	default:
		gopts.OpenStore = u.Opener()
	}
	gio := glue.New(ctx, gopts)
	// Import from derivation builds with the default build settings.
	gio.SetRealiser(func(ctx context.Context, st *local.Store, drvs []storepath.Path) error {
		bl, err := newBuilder(f, st, c, &BuildFlags{})
		if err != nil {
			return err
		}
		_, err = bl.realise(ctx, drvs, false)
		return err
	})

	compat, nix28 := eval.CompatCurrent(), false
	switch cv := firstNonEmpty(c.Compat, f.getenv("CAIRN_COMPAT")); cv {
	case "", "current":
	case "2.8", "nix-2.8", "nix28":
		compat, nix28 = eval.CompatNix28(), true
	default:
		return nil, fmt.Errorf("unknown --compat '%s' (want 'current' or '2.8')", cv)
	}

	if nix28 && cfg.maxCallDepth == 0 {
		// Nix 2.8 has no call depth limit; the evaluator's goroutine hops
		// keep deep recursion from overflowing the Go stack.
		cfg.maxCallDepth = nix28MaxCallDepth
	}
	s := &session{ctx: ctx, f: f, cfg: cfg, cwd: cwd, io: gio, args: c.Args, nix28: nix28}
	s.ev = eval.New(eval.Options{
		IO:                   gio,
		Compat:               compat,
		SearchPath:           searchPath(f, cwd, c.Include),
		MaxCallDepth:         cfg.maxCallDepth,
		Getenv:               f.Getenv,
		Trace:                f.Stderr,
		ShowTrace:            cfg.showTrace,
		Pure:                 cfg.pure,
		StoreDir:             string(storeDir),
		CurrentSystem:        cfg.system,
		CurrentTime:          time.Now().Unix(),
		Lints:                cfg.lints,
		ExperimentalFeatures: cfg.features,
		ExtraBuiltins:        gio.Fetchers(),
	})
	stop, err := startProfiles(c)
	if err != nil {
		return nil, err
	}
	s.stopProfile = stop
	return s, nil
}

// nix28MaxCallDepth is the call depth limit under --compat 2.8 when
// --max-call-depth is not given: high enough to stand for 2.8's "none".
const nix28MaxCallDepth = 1000000

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// withSession runs fn with a new session and a buffered standard output,
// then flushes the output, writes profiles and closes the store.
func withSession(ctx context.Context, f *Factory, c *EvalFlags, mode storeMode, fn func(s *session, out *bufio.Writer) error) (err error) {
	s, err := newSession(ctx, f, c, mode)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(f.Stdout, 64<<10)
	defer func() {
		ferr, cerr := out.Flush(), s.close()
		if err == nil {
			err = errors.Join(ferr, cerr)
		}
	}()
	if err := fn(s, out); err != nil {
		return err
	}
	if v := f.getenv("NIX_SHOW_STATS"); v != "" && v != "0" {
		if err := out.Flush(); err != nil {
			return err
		}
		s.printStats(f.Stderr)
	}
	return nil
}

// printStats writes evaluation counters as JSON to w, in the shape of the
// matching fields of Nix's NIX_SHOW_STATS output, plus Go heap figures.
func (s *session) printStats(w io.Writer) {
	st := s.ev.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	cpu := 0.0
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	fmt.Fprintf(w, `{
  "cpuTime": %f,
  "envs": {
    "number": %d
  },
  "nrThunks": %d,
  "nrLookups": %d,
  "nrPrimOpCalls": %d,
  "nrFunctionCalls": %d,
  "gc": {
    "heapSize": %d,
    "totalBytes": %d,
    "cycles": %d
  }
}
`, cpu, st.Envs, st.Thunks, st.Lookups, st.PrimopCalls, st.Calls, ms.HeapSys, ms.TotalAlloc, ms.NumGC)
}

// close writes profiles and closes the store.
func (s *session) close() error {
	err := s.stopProfile()
	if s.f.Exits {
		return errors.Join(err, s.io.CloseForExit())
	}
	return errors.Join(err, s.io.Close())
}

// evalErr wraps an evaluation error so report renders it with this
// session's positions and trace setting.
func (s *session) evalErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *eval.EvalError
	if errors.As(err, &ee) {
		return &evalError{err: err, fset: s.ev.FileSet(), showTrace: s.cfg.showTrace, prog: s.f.Prog}
	}
	return err
}

// errInterrupted reports a SIGINT/SIGTERM during evaluation.
var errInterrupted = errors.New("interrupted by the user")

// run runs fn on the evaluator's big-stack goroutine. The evaluator cannot
// be cancelled, so when ctx ends (a signal), run returns errInterrupted at
// once and the evaluation is abandoned: the process is about to exit.
func (s *session) run(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- s.ev.Run(fn) }()
	select {
	case err := <-done:
		return s.evalErr(err)
	case <-s.ctx.Done():
		return errInterrupted
	}
}

// lazy parses src and returns its value unevaluated (a thunk), as Nix
// does for --arg values and REPL bindings: the expression is compiled as
// the single element of a list literal, whose element slot is lazy.
func (s *session) lazy(src, name string) (eval.Value, error) {
	e, err := s.ev.ParseString([]byte(src), name, s.cwd)
	if err != nil {
		return eval.Value{}, err
	}
	code, err := s.ev.CompileExpr(&ast.List{Elems: []ast.Expr{e}})
	if err != nil {
		return eval.Value{}, err
	}
	v, err := s.ev.Eval(code)
	if err != nil {
		return eval.Value{}, err
	}
	return v.ListV()[0], nil
}

// autoArgs returns the --arg/--argstr values (call inside run).
func (s *session) autoArgs() (map[string]eval.Value, error) {
	m := make(map[string]eval.Value, len(s.args))
	for _, a := range s.args {
		if a.IsString {
			m[a.Name] = eval.String(a.Value)
			continue
		}
		v, err := s.lazy(a.Value, "«string»")
		if err != nil {
			return nil, err
		}
		m[a.Name] = v
	}
	return m, nil
}

// lookupFileArg is Nix's lookupFileArg: "<p>" is looked up in the search
// path, anything else is a file name relative to the working directory.
func (s *session) lookupFileArg(arg string) (string, error) {
	if len(arg) > 2 && strings.HasPrefix(arg, "<") && strings.HasSuffix(arg, ">") {
		v, err := s.ev.EvalString(arg, "«string»", s.cwd)
		if err != nil {
			return "", err
		}
		return v.Str(), nil
	}
	if strings.Contains(arg, "://") {
		return "", fmt.Errorf("fetching '%s': remote expressions are not supported yet", arg)
	}
	return s.f.abs(arg)
}

// searchPath builds the search path: -I entries, then NIX_PATH. Relative
// directories are made absolute against cwd.
func searchPath(f *Factory, cwd string, include []string) []eval.SearchPathEntry {
	var out []eval.SearchPathEntry
	add := func(e string) {
		if e == "" {
			return
		}
		prefix, p, ok := strings.Cut(e, "=")
		if !ok {
			prefix, p = "", e
		}
		if !strings.Contains(p, "://") && !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		out = append(out, eval.SearchPathEntry{Prefix: prefix, Path: p})
	}
	for _, e := range include {
		add(e)
	}
	for _, e := range splitNixPath(f.getenv("NIX_PATH")) {
		add(e)
	}
	return out
}

// splitNixPath splits NIX_PATH at colons, keeping URLs ("https://…") whole.
func splitNixPath(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ":") {
		if strings.HasPrefix(part, "//") && len(out) > 0 {
			out[len(out)-1] += ":" + part
			continue
		}
		out = append(out, part)
	}
	return out
}

// GC policy (evaluator.md §3.4), applied only when the user has not set
// GOGC or GOMEMLIMIT. Measured on bench/lib-bench.nix (all workloads,
// `instantiate --eval --strict`, 3 runs each on a shared 2-core machine,
// CPU = user+sys because wall time was dominated by other load):
//
//	GOGC=100: 2.0 s CPU, 285 MiB RSS
//	GOGC=200: 1.8 s CPU, 330 MiB RSS
//	GOGC=400: 1.55 s CPU, 380 MiB RSS
//	GOGC=off: 857 MiB RSS and no faster (page faults)
//	Nix 2.8:  1.6 s CPU, 505 MiB RSS
//
// GOGC=400 is the knee: a fifth less CPU than the default while staying
// well below Nix's peak. The memory limit (half the RAM) is a ceiling that
// makes the collector work harder before the machine runs short.
const defaultGOGC = 400

func setGCPolicy(f *Factory) {
	if _, ok := f.Getenv("GOGC"); !ok {
		debug.SetGCPercent(defaultGOGC)
	}
	if _, ok := f.Getenv("GOMEMLIMIT"); !ok {
		if lim := memoryLimit(); lim > 0 {
			debug.SetMemoryLimit(lim)
		}
	}
}

// memoryLimit returns half of the physical memory (0 if unknown). It asks
// sysinfo(2), which costs a process far less than /proc/meminfo.
func memoryLimit() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 0
	}
	unit := int64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return int64(si.Totalram) * unit / 2
}

// startProfiles starts --cpuprofile and returns the function that stops
// it and writes --memprofile.
func startProfiles(c *EvalFlags) (func() error, error) {
	var cpu *os.File
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("creating the CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("starting the CPU profile: %w", err)
		}
		cpu = f
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if c.MemProfile != "" {
			f, err := os.Create(c.MemProfile)
			if err != nil {
				return fmt.Errorf("creating the memory profile: %w", err)
			}
			runtime.GC()
			errs = append(errs, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
		}
		return errors.Join(errs...)
	}, nil
}
