package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"cairn/internal/build"
	"cairn/internal/cli/progress"
	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/lang/ast"
	"cairn/internal/lang/token"
	"cairn/internal/store/local"
)

// This file holds `cairn build` (nix build / nix-build) and what it shares
// with `cairn store realise` and `cairn log`: the build settings, turning
// installables into derivations, and running the Scheduler.

// withBuildCommands adds build, log and `store realise` to the store
// commands' table entries.
func withBuildCommands(cmds []command) []command {
	for i := range cmds {
		if cmds[i].name == "store" {
			cmds[i].short += ", realise"
			cmds[i].run = func(ctx context.Context, f *Factory, args []string) error {
				subs := append(storeSubcommands(), subcommand{"realise", "build or fetch store paths and derivations' outputs, like nix-store -r", func(ctx context.Context, f *Factory, args []string) error {
					return newRealiseCmd(f, func(o *RealiseOptions) error { return runRealise(ctx, o) })(args)
				}})
				return runGroup(ctx, f, "store", subs, args)
			}
		}
	}
	return append([]command{
		{"build", "build derivations in the sandbox and link their outputs, like nix build", func(ctx context.Context, f *Factory, args []string) error {
			return newBuildCmd(f, func(o *BuildOptions) error { return runBuild(ctx, o) })(args)
		}},
		{"log", "print the build log of a derivation or store path, like nix log", func(ctx context.Context, f *Factory, args []string) error {
			return newLogCmd(f, func(o *LogOptions) error { return runLog(ctx, o) })(args)
		}},
	}, cmds...)
}

// BuildFlags are the settings of building commands.
type BuildFlags struct {
	MaxJobs       int  // -j / --max-jobs (0: unset)
	Cores         int  // --cores (-1: unset)
	KeepGoing     bool // -k / --keep-going
	KeepFailed    bool // -K / --keep-failed
	Check         bool // --check
	Timeout       time.Duration
	MaxSilentTime time.Duration
	LogFormat     string // --log-format
	PrintLogs     bool   // -L / --print-build-logs
}

// parseBuildFlag handles arg if it is a build flag.
func parseBuildFlag(s *argScanner, arg string, b *BuildFlags) (bool, error) {
	intVal := func() (int, error) {
		v, err := s.value(arg)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, &usageError{s.prog, fmt.Sprintf("flag '%s' requires a non-negative integer, got '%s'", arg, v)}
		}
		return n, nil
	}
	var err error
	switch arg {
	case "-j", "--max-jobs":
		v, verr := s.value(arg)
		if verr != nil {
			return true, verr
		}
		if v == "auto" {
			b.MaxJobs = runtime.NumCPU()
		} else if b.MaxJobs, err = strconv.Atoi(v); err != nil || b.MaxJobs < 0 {
			return true, &usageError{s.prog, fmt.Sprintf("flag '%s' requires a non-negative integer or 'auto', got '%s'", arg, v)}
		}
		if b.MaxJobs == 0 {
			return true, &usageError{s.prog, "max-jobs 0 (build remotely only) is not supported: there are no remote builders"}
		}
	case "--cores":
		b.Cores, err = intVal()
	case "-k", "--keep-going":
		b.KeepGoing = true
	case "-K", "--keep-failed":
		b.KeepFailed = true
	case "--check":
		b.Check = true
	case "--timeout", "--max-silent-time":
		n, ierr := intVal()
		if ierr != nil {
			return true, ierr
		}
		if arg == "--timeout" {
			b.Timeout = time.Duration(n) * time.Second
		} else {
			b.MaxSilentTime = time.Duration(n) * time.Second
		}
	case "--log-format":
		b.LogFormat, err = s.value(arg)
	case "-L", "--print-build-logs":
		b.PrintLogs = true
	default:
		return false, nil
	}
	return true, err
}

// buildSettings are the effective build settings: NIX_CONFIG, --option,
// then the build flags.
type buildSettings struct {
	sandbox       string // "true", "false" or "relaxed"
	maxJobs       int
	cores         int
	keepGoing     bool
	system        string
	extraPlatform []string
}

func resolveBuildSettings(f *Factory, c *EvalFlags, b *BuildFlags) (buildSettings, error) {
	bs := buildSettings{sandbox: "true", maxJobs: 1, cores: b.Cores}
	apply := func(st Setting) error {
		switch st.Name {
		case "sandbox":
			switch st.Value {
			case "true", "false", "relaxed":
				bs.sandbox = st.Value
			default:
				return fmt.Errorf("configuration setting 'sandbox' should be 'true', 'false' or 'relaxed', got '%s'", st.Value)
			}
		case "max-jobs":
			if st.Value == "auto" {
				bs.maxJobs = runtime.NumCPU()
				return nil
			}
			n, err := strconv.Atoi(st.Value)
			if err != nil || n < 1 {
				return fmt.Errorf("configuration setting 'max-jobs' should be a positive integer or 'auto', got '%s'", st.Value)
			}
			bs.maxJobs = n
		case "cores":
			n, err := strconv.Atoi(st.Value)
			if err != nil || n < 0 {
				return fmt.Errorf("configuration setting 'cores' should be a non-negative integer, got '%s'", st.Value)
			}
			bs.cores = n
		case "keep-going":
			v, err := parseBool(st)
			if err != nil {
				return err
			}
			bs.keepGoing = v
		case "system":
			bs.system = st.Value
		case "extra-platforms":
			bs.extraPlatform = strings.Fields(st.Value)
		}
		return nil
	}
	for _, st := range append(parseConfig(f.getenv("NIX_CONFIG")), c.Settings...) {
		if err := apply(st); err != nil {
			return bs, err
		}
	}
	if b.MaxJobs > 0 {
		bs.maxJobs = b.MaxJobs
	}
	if b.Cores >= 0 {
		bs.cores = b.Cores
	}
	if b.KeepGoing {
		bs.keepGoing = true
	}
	if bs.system == "" {
		bs.system = hostSystem()
	}
	return bs, nil
}

// hostSystem is Nix's name for this machine's platform.
func hostSystem() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64", "ppc64le": "powerpc64le"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-" + runtime.GOOS
}

// builder is the machinery of one building command: the store, the
// Builder and the progress display.
type builder struct {
	f     *Factory
	st    *local.Store
	flags *BuildFlags
	bs    buildSettings
	log   *progress.Logger
	b     *build.Builder
	sub   build.Substituter // the configured substituters (substitute.go)
	// known, if set, gives derivations this process already has (the
	// ones an evaluation wrote), so that loading the graph need not read
	// and parse them again.
	known func(storepath.Path) (*derivation.Derivation, bool)
}

// newBuilder sets up building into st.
func newBuilder(f *Factory, st *local.Store, c *EvalFlags, flags *BuildFlags) (*builder, error) {
	bs, err := resolveBuildSettings(f, c, flags)
	if err != nil {
		return nil, err
	}
	format := progress.Raw
	if flags.LogFormat != "" {
		if format, err = progress.ParseFormat(flags.LogFormat); err != nil {
			return nil, err
		}
	} else if isTerminal(f.Stderr) && f.getenv("TERM") != "dumb" {
		format = progress.Bar
		if flags.PrintLogs {
			format = progress.BarWithLogs
		}
	}
	tmp := firstNonEmpty(f.getenv("TMPDIR"), "/tmp")
	cfg := build.Config{
		NoSandbox:      bs.sandbox == "false",
		AllowNoChroot:  bs.sandbox == "relaxed",
		Cores:          bs.cores,
		Timeout:        flags.Timeout,
		MaxSilentTime:  flags.MaxSilentTime,
		KeepFailed:     flags.KeepFailed,
		TmpDir:         tmp,
		System:         bs.system,
		ExtraPlatforms: bs.extraPlatform,
		ImpureEnv:      environMap(f.Environ),
		BuildUser:      buildUser(st.RealStoreDir(), tmp),
	}
	cfg.BuildUsers = moreBuildUsers(cfg.BuildUser, st.RealStoreDir(), tmp)
	if cfg.NoSandbox && st.RealStoreDir() != string(st.Dir()) {
		return nil, fmt.Errorf("building without the sandbox needs the store at its logical place: store '%s' is really at '%s' (build with the sandbox, or use the store at %s)", st.Dir(), st.RealStoreDir(), st.Dir())
	}
	bl := &builder{f: f, st: st, flags: flags, bs: bs}
	bl.log = progress.New(f.Stderr, format, progress.Options{Dir: st.Dir()})
	if bl.sub, err = buildSubstituter(f, c, st, bl.log); err != nil {
		bl.log.Close()
		return nil, err
	}
	cfg.LogLine = bl.log.Line
	bl.b = build.New(st, cfg)
	return bl, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func environMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// buildUser is the host user of sandboxed builds. As root, it is nixbld1
// of group nixbld, as with Nix, if that user exists and can reach the
// store and the build directories; otherwise (and when not root) builds
// run as the caller's own ids, mapped to an unprivileged user inside the
// sandbox, whose writable mounts are only its build directory and chroot.
func buildUser(dirs ...string) *build.BuildUser {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nixbld1")
	if err != nil {
		return nil
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if g, err := user.LookupGroup("nixbld"); err == nil {
		gid, err2 = strconv.Atoi(g.Gid)
	}
	if err1 != nil || err2 != nil {
		return nil
	}
	for _, d := range dirs {
		if !traversable(d, uid, gid) {
			return nil
		}
	}
	return &build.BuildUser{UID: uid, GID: gid}
}

// moreBuildUsers are the build users after nixbld1: nixbld2, nixbld3,
// … as long as they exist (the members Nix's installer makes for group
// nixbld), with first's group. The Builder takes one whose Nix lock
// (/nix/var/nix/userpool/<uid>) is free, so a Nix build holding nixbld1
// does not keep cairn's builds waiting.
func moreBuildUsers(first *build.BuildUser, dirs ...string) []build.BuildUser {
	if first == nil {
		return nil
	}
	var users []build.BuildUser
	for i := 2; i <= 128; i++ {
		u, err := user.Lookup("nixbld" + strconv.Itoa(i))
		if err != nil {
			break
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil || uid == first.UID {
			continue
		}
		ok := true
		for _, d := range dirs {
			ok = ok && traversable(d, uid, first.GID)
		}
		if ok {
			users = append(users, build.BuildUser{UID: uid, GID: first.GID})
		}
	}
	return users
}

// traversable reports whether uid/gid may search every directory from /
// down to dir.
func traversable(dir string, uid, gid int) bool {
	dir = filepath.Clean(dir)
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		perm := fi.Mode().Perm()
		sys, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		owner, group := int(sys.Uid), int(sys.Gid)
		switch {
		case owner == uid:
			if perm&0o100 == 0 {
				return false
			}
		case group == gid:
			if perm&0o010 == 0 {
				return false
			}
		case perm&0o001 == 0:
			return false
		}
		if dir == "/" {
			return true
		}
		dir = filepath.Dir(dir)
	}
}

// realise builds the outputs of drvs (and their inputs), showing progress.
func (bl *builder) realise(ctx context.Context, drvs []storepath.Path, check bool) (map[storepath.Path]*build.Result, error) {
	st := bl.st
	read := func(p storepath.Path) (*derivation.Derivation, error) {
		if bl.known != nil {
			if d, ok := bl.known(p); ok {
				return d, nil
			}
		}
		return st.ReadDerivation(ctx, p)
	}
	g, err := build.LoadGraph(st.Dir(), read, drvs)
	if err != nil {
		return nil, err
	}
	sched := &build.Scheduler{Builder: bl.b, MaxJobs: bl.bs.maxJobs, KeepGoing: bl.bs.keepGoing, Check: check, Substituter: bl.sub}
	sched.Observe(bl.log)
	res, err := sched.Realise(ctx, g, drvs)
	// The shared sandbox skeletons go; a later realise makes them again.
	if cerr := bl.b.Close(); err == nil && cerr != nil {
		err = cerr
	}
	bl.log.Close()
	var re *build.RealiseError
	if errors.As(err, &re) {
		var b strings.Builder
		for _, e := range re.Errs {
			b.WriteString(eval.FormatError(token.NewFileSet(), e, false))
		}
		bl.log.Error(b.String())
		return res, &exitError{code: re.ExitStatus()}
	}
	return res, err
}

// installable is one thing to build: a derivation and the outputs asked
// for (nil: all), or (drv zero) a store path that must be valid.
type installable struct {
	drv     storepath.Path
	outputs []string
	opaque  storepath.Path
}

// parseDrvArg parses "/nix/store/x.drv", "x.drv^out,dev", "x.drv^*" and
// nix-store's "x.drv!out".
func parseDrvArg(f *Factory, dir storepath.Dir, arg string) (installable, bool, error) {
	path, outs, hasOuts := strings.Cut(arg, "^")
	if !hasOuts {
		path, outs, hasOuts = strings.Cut(arg, "!")
	}
	if !strings.HasSuffix(path, ".drv") {
		return installable{}, false, nil
	}
	p, err := storePathArg(f, dir, path)
	if err != nil {
		return installable{}, false, err
	}
	in := installable{drv: p}
	if hasOuts && outs != "*" {
		in.outputs = strings.Split(outs, ",")
	}
	return in, true, nil
}

// evalInstallables evaluates the expression arguments of a building
// command to derivations, instantiated in the session's store: each of
// exprs (or files) with each attribute path.
func evalInstallables(s *session, files []string, fromExpr bool, attrPaths []string) ([]installable, error) {
	var out []installable
	err := s.run(func() error {
		autoArgs, err := s.autoArgs()
		if err != nil {
			return err
		}
		p := &processor{s: s}
		for _, file := range files {
			var e ast.Expr
			if fromExpr {
				e, err = s.ev.ParseString([]byte(file), "«string»", s.cwd)
			} else {
				e, err = p.parseFile(file)
			}
			if err != nil {
				return err
			}
			code, err := s.ev.CompileExpr(e)
			if err != nil {
				return err
			}
			root, err := s.ev.Eval(code)
			if err != nil {
				return err
			}
			aps := attrPaths
			if len(aps) == 0 {
				aps = []string{""}
			}
			for _, ap := range aps {
				v, err := findAlongAttrPath(s.ev, ap, autoArgs, root)
				if err != nil {
					return err
				}
				var drvs []drvInfo
				if err := getDerivations(s.ev, v, "", autoArgs, &drvs, map[*eval.Attrs]bool{}); err != nil {
					return err
				}
				for _, d := range drvs {
					sp, err := s.io.StoreDir().Parse(d.drvPath)
					if err != nil {
						return err
					}
					out = append(out, installable{drv: sp, outputs: []string{firstNonEmpty(d.outputName, "out")}})
				}
			}
		}
		return nil
	})
	return out, err
}

// BuildOptions are the flags of `cairn build`.
type BuildOptions struct {
	F     *Factory
	Eval  EvalFlags
	Build BuildFlags

	Args        []string // files, attribute paths (with -f) or .drv paths
	File        string   // -f / --file
	Exprs       []string // -E / --expr
	AttrPaths   []string // -A / --attr
	OutLink     string   // -o / --out-link (default "result")
	NoLink      bool
	JSON        bool
	PrintOut    bool // --print-out-paths
	DryRun      bool
	ShowHelp    bool
	ShowVersion bool
}

func newBuildCmd(f *Factory, runF func(*BuildOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &BuildOptions{F: f, OutLink: "result", Build: BuildFlags{Cores: -1}}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if ok, err := parseBuildFlag(s, arg, &o.Build); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			var err error
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "--version":
				o.ShowVersion = true
			case "-f", "--file":
				o.File, err = s.value(arg)
			case "-E", "--expr":
				var e string
				e, err = s.value(arg)
				o.Exprs = append(o.Exprs, e)
			case "-A", "--attr":
				var a string
				a, err = s.value(arg)
				o.AttrPaths = append(o.AttrPaths, a)
			case "-o", "--out-link":
				o.OutLink, err = s.value(arg)
			case "--no-link":
				o.NoLink = true
			case "--json":
				o.JSON = true
			case "--print-out-paths":
				o.PrintOut = true
			case "--dry-run":
				o.DryRun = true
			default:
				err = evalFlagOrArg(s, arg, &o.Eval, &o.Args)
			}
			if err != nil {
				return err
			}
		}
		return runF(o)
	}
}

const buildHelp = `Usage: cairn build [options...] [installables...]

Evaluates, instantiates and builds derivations in the sandbox, then links
their outputs (./result, ./result-dev, ./result-1 ...) as garbage
collector roots. Installables are:

  FILE [-A ATTR]...     a Nix file (default ./default.nix), as nix-build
  -f FILE [ATTR]...     attributes of a file, as nix build -f
  -E EXPR [-A ATTR]...  an expression
  /nix/store/x.drv[^out,dev|^*]   store derivations

  -o, --out-link PATH   name of the result links (default result)
  --no-link             do not create result links
  --json                print the built paths as JSON, like nix build --json
  --print-out-paths     print the output paths
  --dry-run             print what would be built
  -j, --max-jobs N      run up to N builds at once (or 'auto')
  --cores N             NIX_BUILD_CORES of each build (0: all CPUs)
  -k, --keep-going      keep building what does not depend on a failure
  -K, --keep-failed     keep the build directory of failed builds
  --check               rebuild and compare with the existing outputs
  --timeout S, --max-silent-time S   kill builds that run or stay silent too long
  --option sandbox false|relaxed     build without the sandbox
  --log-format raw|bar|bar-with-logs|internal-json, -L (bar-with-logs)
  --arg, --argstr, -I, --store URL, --option NAME VALUE, --show-trace
`

// runBuild is `cairn build`.
func runBuild(ctx context.Context, o *BuildOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, buildHelp)
		return err
	}
	if o.ShowVersion {
		_, err := fmt.Fprintln(f.Stdout, "nix (cairn) 2.8.0")
		return err
	}
	return withSession(ctx, f, &o.Eval, storeReadWrite, func(s *session, out *bufio.Writer) error {
		st, err := s.io.Store()
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("building needs a local store (--store /some/dir or local?root=/some/dir)")
		}
		s.io.DeferDerivations()
		ins, err := buildInstallables(s, st, o)
		if err != nil {
			return err
		}
		// The derivations are valid before anything is printed or built.
		if err := st.Sync(ctx); err != nil {
			return err
		}
		if o.DryRun {
			for _, in := range ins {
				if !in.drv.IsZero() {
					fmt.Fprintln(out, st.Dir().Print(in.drv))
				}
			}
			return nil
		}
		var drvs []storepath.Path
		for _, in := range ins {
			if in.drv.IsZero() {
				valid, err := st.IsValid(ctx, in.opaque)
				if err != nil {
					return err
				}
				if !valid {
					return fmt.Errorf("path '%s' is not valid and there is no substituter to fetch it", st.Dir().Print(in.opaque))
				}
				continue
			}
			drvs = append(drvs, in.drv)
		}
		if len(drvs) > 0 {
			bl, err := newBuilder(f, st, &o.Eval, &o.Build)
			if err != nil {
				return err
			}
			bl.known = s.io.SessionDerivation
			if _, err := bl.realise(ctx, drvs, o.Build.Check); err != nil {
				return err
			}
		}
		return finishBuild(ctx, s.f, st, o, ins, out)
	})
}

// buildInstallables turns the command line into derivations.
func buildInstallables(s *session, st *local.Store, o *BuildOptions) ([]installable, error) {
	var ins []installable
	var files []string
	fromExpr := false
	attrPaths := o.AttrPaths
	switch {
	case len(o.Exprs) > 0:
		files, fromExpr = o.Exprs, true
		if o.File != "" {
			return nil, &usageError{s.f.Prog, "'--file' and '--expr' are exclusive"}
		}
		attrPaths = append(attrPaths, o.Args...)
	case o.File != "":
		files = []string{o.File}
		attrPaths = append(attrPaths, o.Args...)
		if len(attrPaths) == 0 {
			attrPaths = []string{""}
		}
	default:
		for _, a := range o.Args {
			in, ok, err := parseDrvArg(s.f, st.Dir(), a)
			if err != nil {
				return nil, err
			}
			if ok {
				ins = append(ins, in)
				continue
			}
			if abs, err := s.f.abs(a); err == nil && inStoreDir(st.Dir(), abs) {
				p, err := storePathArg(s.f, st.Dir(), a)
				if err != nil {
					return nil, err
				}
				ins = append(ins, installable{opaque: p})
				continue
			}
			files = append(files, a)
		}
		if len(o.Args) == 0 {
			files = []string{"./default.nix"}
		}
	}
	if len(files) > 0 {
		more, err := evalInstallables(s, files, fromExpr, attrPaths)
		if err != nil {
			return nil, err
		}
		ins = append(ins, more...)
	}
	return ins, nil
}

// builtOutputs returns the output paths of in, all outputs if it names
// none, sorted by name.
func builtOutputs(ctx context.Context, st *local.Store, in installable) ([]string, map[string]storepath.Path, error) {
	outs, err := st.QueryDerivationOutputs(ctx, in.drv)
	if err != nil {
		return nil, nil, err
	}
	names := in.outputs
	if names == nil {
		for n := range outs {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		if _, ok := outs[n]; !ok {
			return nil, nil, fmt.Errorf("derivation '%s' does not have an output named '%s'", st.Dir().Print(in.drv), n)
		}
	}
	return names, outs, nil
}

// finishBuild links the outputs and prints what was asked for.
func finishBuild(ctx context.Context, f *Factory, st *local.Store, o *BuildOptions, ins []installable, out *bufio.Writer) error {
	var js []byte
	js = append(js, '[')
	for i, in := range ins {
		if i > 0 {
			js = append(js, ',')
		}
		link := func(n string, p storepath.Path) error {
			if o.PrintOut {
				fmt.Fprintln(out, st.Dir().Print(p))
			}
			if o.NoLink {
				return nil
			}
			link := o.OutLink
			if i > 0 {
				link += "-" + strconv.Itoa(i)
			}
			if n != "out" {
				link += "-" + n
			}
			abs, err := f.abs(link)
			if err != nil {
				return err
			}
			return st.AddPermRoot(ctx, p, abs)
		}
		if in.drv.IsZero() {
			// nix build --json prints an opaque path as {"path": ...}.
			js = append(js, `{"path":`...)
			js = jsonString(js, st.Dir().Print(in.opaque))
			js = append(js, '}')
			if err := link("out", in.opaque); err != nil {
				return err
			}
			continue
		}
		names, outs, err := builtOutputs(ctx, st, in)
		if err != nil {
			return err
		}
		js = append(js, `{"drvPath":`...)
		js = jsonString(js, st.Dir().Print(in.drv))
		js = append(js, `,"outputs":{`...)
		for j, n := range names {
			p := outs[n]
			if j > 0 {
				js = append(js, ',')
			}
			js = jsonString(js, n)
			js = append(js, ':')
			js = jsonString(js, st.Dir().Print(p))
			if err := link(n, p); err != nil {
				return err
			}
		}
		js = append(js, "}}"...)
	}
	js = append(js, ']')
	if o.JSON {
		out.Write(js)
		out.WriteByte('\n')
	}
	return nil
}
