package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

// Store is what building needs from a store: a local store whose
// directory is on this machine (*local.Store).
type Store interface {
	store.Store
	// RealStoreDir is where the store directory really is.
	RealStoreDir() string
	// StateDir is where the state directory (/nix/var/nix) really is;
	// logs go to its sibling log/nix.
	StateDir() string
	// RegisterValidPaths registers finished paths in one transaction.
	RegisterValidPaths(ctx context.Context, infos []*store.PathInfo) error
	// AddTempRoot protects a path from the garbage collector.
	AddTempRoot(ctx context.Context, p storepath.Path) error
}

// BuildUser is the host user and group a sandboxed builder runs as.
type BuildUser struct{ UID, GID int }

// Config holds the build settings (Nix's sandbox, cores, timeout, ...).
// The zero value builds in the sandbox with Nix's defaults.
type Config struct {
	// NoSandbox runs builders directly (sandbox = false). The store's
	// real directory must then be its logical one.
	NoSandbox bool
	// AllowNoChroot lets __noChroot derivations build unsandboxed
	// (sandbox = relaxed).
	AllowNoChroot bool
	// SandboxPaths are extra bind mounts (sandbox-paths).
	SandboxPaths []sandbox.Mount
	// DevShmSize is the size of the sandbox's /dev/shm
	// (sandbox-dev-shm-size, default "50%").
	DevShmSize string
	// AllowNewPrivileges leaves NO_NEW_PRIVS unset
	// (allow-new-privileges).
	AllowNewPrivileges bool
	// BuildUser is the host user of sandboxed builds; nil means the
	// caller's own ids (as Nix without build-users-group). When running
	// as root, set it (Nix uses nixbld1 of group nixbld): a builder
	// mapped to host root owns, through the sandbox, everything of root
	// that is mounted writable into it (the build directory and its
	// own chroot only; inputs, devices and sandbox-paths are mounted
	// read-only). The build user must be able to traverse the store's
	// real directory and TmpDir.
	BuildUser *BuildUser
	// BuildUsers are further build users (Nix's other members of
	// build-users-group), taken when another process (a Nix build)
	// holds BuildUser's lock.
	BuildUsers []BuildUser
	// UserPoolDir is the directory of Nix's build-user locks
	// ("": DefaultUserPoolDir). Sandboxed builds hold the lock of their
	// build user while they run, as Nix does, so that Nix, which kills
	// every process of a build user it takes, never takes theirs.
	UserPoolDir string
	// Cores is NIX_BUILD_CORES; 0 means the number of CPUs.
	Cores int
	// Timeout and MaxSilentTime kill builds that run too long or print
	// nothing for too long (0: no limit).
	Timeout, MaxSilentTime time.Duration
	// KeepFailed keeps the build directory of failed builds.
	KeepFailed bool
	// TmpDir is where build directories are created (default /tmp).
	TmpDir string
	// LogDir is Nix's log directory (default: log/nix beside the
	// store's state directory); NoLogFile disables log files.
	LogDir    string
	NoLogFile bool
	// LogLines is how many lines of log a failure reports (default 25).
	LogLines int
	// MaxLogSize kills builds that log more bytes (0: no limit).
	MaxLogSize int64
	// System is this machine's platform (e.g. x86_64-linux); with
	// ExtraPlatforms it decides what can be built here. "" accepts any.
	System         string
	ExtraPlatforms []string
	// SystemFeatures are the features this machine offers (nil: Nix's
	// defaults nixos-test, benchmark, big-parallel, and kvm if /dev/kvm
	// is usable). With "kvm", /dev/kvm is put in the sandbox.
	SystemFeatures []string
	// Log receives the raw output of builders (nil: discarded); writes
	// from concurrent builds are serialised.
	Log io.Writer
	// LogLine, if set, is called with each complete line a builder
	// prints ("\r" restarts a line), "@nix {json}" lines included, from
	// the goroutines of concurrent builds.
	LogLine func(drv storepath.Path, line string)
	// ImpureEnv gives the values of impureEnvVars for fixed-output
	// derivations (the caller's environment).
	ImpureEnv map[string]string
	// HTTPClient is used by builtin:fetchurl (nil: http.DefaultClient).
	HTTPClient *http.Client
	// HashedMirrors are tried first by builtin:fetchurl for flat hashes.
	HashedMirrors []string
}

// Builder builds Requests into a Store. Close it when done.
type Builder struct {
	store Store
	cfg   Config
	// skel holds the sandbox skeletons the Builder's builds share, and
	// spawner creates their sandboxes.
	skel    *sandbox.Skeletons
	spawner *sandbox.Spawner
	// users locks the build user (nil: builds run as the caller).
	users *userPool
	// pool keeps the directories of finished builds for reuse.
	pool dirPool
	// logz keeps the bzip2 writers of finished builds' logs (each holds
	// a 900 kB block buffer that is otherwise allocated and zeroed per
	// build, and collected: GC work that competes with the builders for
	// the cores at -j2).
	logz sync.Pool
}

// New returns a Builder for st with the settings cfg.
func New(st Store, cfg Config) *Builder {
	if cfg.Cores <= 0 {
		cfg.Cores = runtime.NumCPU()
	}
	if cfg.TmpDir == "" {
		cfg.TmpDir = "/tmp"
	}
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(filepath.Dir(st.StateDir()), "log", "nix")
	}
	if cfg.LogLines == 0 {
		cfg.LogLines = 25
	}
	if cfg.SystemFeatures == nil {
		cfg.SystemFeatures = []string{"nixos-test", "benchmark", "big-parallel"}
		if sandbox.HasKVM() {
			cfg.SystemFeatures = append(cfg.SystemFeatures, "kvm")
		}
	}
	if cfg.Log != nil {
		cfg.Log = &lockedWriter{w: cfg.Log}
	}
	if cfg.UserPoolDir == "" {
		cfg.UserPoolDir = DefaultUserPoolDir
	}
	b := &Builder{store: st, cfg: cfg, skel: sandbox.NewSkeletons(cfg.TmpDir), spawner: sandbox.NewSpawner()}
	if cfg.BuildUser != nil {
		b.users = &userPool{dir: cfg.UserPoolDir, users: append([]BuildUser{*cfg.BuildUser}, cfg.BuildUsers...)}
	}
	return b
}

// Close removes what the Builder keeps between builds: the shared
// sandbox skeletons (in TmpDir, once its running builds are done) and
// the sandbox spawner (which kills builds still running). The Builder
// can still be used; it makes them again.
func (b *Builder) Close() error {
	// The sandboxes first: the pooled mount namespaces hold mounts on the
	// skeletons' directories, and removing a mount point detaches those
	// mounts one grace period at a time. Then the skeletons and the
	// pooled directories at once: each waits on the file system
	// (removing the directories took 6 ms of a 500-build run's end on
	// ext4).
	err := b.spawner.Close()
	done := make(chan struct{})
	go func() { b.pool.close(); close(done) }()
	serr := b.skel.Close()
	<-done
	return errors.Join(err, serr)
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Options modify one Build.
type Options struct {
	// Check rebuilds valid outputs and compares them (--check).
	Check bool
}

func (b *Builder) print(p storepath.Path) string { return b.store.Dir().Print(p) }

// CanBuild reports why req cannot be built on this machine, or nil.
func (b *Builder) CanBuild(req *Request) error {
	if b.cfg.System != "" && req.Platform != b.cfg.System && !slices.Contains(b.cfg.ExtraPlatforms, req.Platform) &&
		!strings.HasPrefix(req.Builder, "builtin:") {
		return &Error{Kind: Failed, Drv: b.print(req.DrvPath), Msg: fmt.Sprintf(
			"a '%s' with features {%s} is required to build '%s', but I am a '%s' with features {%s}",
			req.Platform, strings.Join(req.RequiredSystemFeatures, ", "), b.print(req.DrvPath),
			b.cfg.System, strings.Join(b.cfg.SystemFeatures, ", "))}
	}
	for _, f := range req.RequiredSystemFeatures {
		if !slices.Contains(b.cfg.SystemFeatures, f) {
			return &Error{Kind: Failed, Drv: b.print(req.DrvPath), Msg: fmt.Sprintf(
				"a '%s' with features {%s} is required to build '%s', but I am a '%s' with features {%s}",
				req.Platform, strings.Join(req.RequiredSystemFeatures, ", "), b.print(req.DrvPath),
				b.cfg.System, strings.Join(b.cfg.SystemFeatures, ", "))}
		}
	}
	return nil
}

// outputPaths returns req's output paths sorted.
func outputPaths(req *Request) []storepath.Path {
	var ps []storepath.Path
	for _, o := range req.Outputs {
		ps = append(ps, o.Path)
	}
	slices.SortFunc(ps, storepath.Compare)
	return ps
}

// Build realises req: unless its outputs are already valid (and
// opts.Check is off), it locks them, runs the builder, checks the
// outputs and registers them. Its inputs must be valid. On failure
// nothing is registered and the error is an *Error when the build
// itself failed.
func (b *Builder) Build(ctx context.Context, req *Request, opts Options) (*Result, error) {
	if len(req.Outputs) == 0 {
		return nil, fmt.Errorf("build %s: derivation has no outputs", b.print(req.DrvPath))
	}
	if err := b.CanBuild(req); err != nil {
		return nil, err
	}
	locks, err := lockPaths(ctx, b.store.RealStoreDir(), outputPaths(req))
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", b.print(req.DrvPath), err)
	}
	registered := false
	defer func() { locks.unlock(registered) }()

	valid, err := b.validOutputs(ctx, req)
	if err != nil {
		return nil, err
	}
	if opts.Check {
		if len(valid) != len(req.Outputs) {
			return nil, fmt.Errorf("some outputs of '%s' are not valid, so checking is not possible", b.print(req.DrvPath))
		}
	} else if len(valid) == len(req.Outputs) {
		registered = true
		return &Result{Status: AlreadyValid, Outputs: valid}, nil
	}
	for _, p := range append(outputPaths(req), req.DrvPath) {
		if err := b.store.AddTempRoot(ctx, p); err != nil {
			return nil, err
		}
	}
	closure, err := store.Closure(ctx, b.store, req.Inputs, store.ClosureOptions{})
	if err != nil {
		return nil, fmt.Errorf("build %s: inputs: %w", b.print(req.DrvPath), err)
	}
	for _, p := range closure {
		if err := b.store.AddTempRoot(ctx, p); err != nil {
			return nil, err
		}
	}
	res := &Result{Start: time.Now()}
	run, err := b.run(ctx, req, closure, valid, opts.Check)
	if run != nil {
		defer run.cleanup()
		res.LogFile = run.logFile
	}
	if err != nil {
		return nil, run.fail(err)
	}
	infos, err := b.processOutputs(ctx, req, run, closure)
	if err != nil {
		return nil, run.fail(err)
	}
	if opts.Check {
		if err := b.compareCheck(req, run, infos, valid); err != nil {
			return nil, run.fail(err)
		}
		res.Status, res.Outputs, res.Stop = Checked, valid, time.Now()
		registered = true
		return res, nil
	}
	if err := b.register(ctx, req, run, infos, valid); err != nil {
		return nil, err
	}
	registered = true
	res.Status, res.Stop = Built, time.Now()
	res.Outputs = map[string]*store.PathInfo{}
	for id, o := range req.Outputs {
		if info, ok := valid[id]; ok {
			res.Outputs[id] = info
			continue
		}
		info, err := b.store.QueryPathInfo(ctx, o.Path)
		if err != nil {
			return nil, err
		}
		res.Outputs[id] = info
	}
	return res, nil
}

// validOutputs returns the infos of req's outputs that are valid.
func (b *Builder) validOutputs(ctx context.Context, req *Request) (map[string]*store.PathInfo, error) {
	valid := map[string]*store.PathInfo{}
	for id, o := range req.Outputs {
		info, err := b.store.QueryPathInfo(ctx, o.Path)
		if errors.Is(err, store.ErrNotValid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		valid[id] = info
	}
	return valid, nil
}

// A buildRun is one execution of a builder and where it left things.
type buildRun struct {
	b *Builder
	// actual maps output names to where the builder wrote them.
	actual map[string]string
	// buildDir is the host build directory; chroot the sandbox root.
	buildDir, chroot string
	// fromUID is the host uid that owns the builder's files (-1: any).
	fromUID int
	logFile string
	failed  bool
}

// fail marks the run failed; with keep-failed, a build error says where
// the build directory is kept.
func (r *buildRun) fail(err error) error {
	r.failed = true
	var be *Error
	if r.b.cfg.KeepFailed && r.buildDir != "" && errors.As(err, &be) && !strings.Contains(be.Msg, "note: keeping build directory") {
		be.Msg += fmt.Sprintf("\nnote: keeping build directory '%s'", r.buildDir)
	}
	return err
}

// cleanup removes the chroot and, unless the build failed with
// keep-failed set, the build directory and stray outputs.
func (r *buildRun) cleanup() {
	keep := r.failed && r.b.cfg.KeepFailed
	if r.chroot != "" {
		if keep {
			// Keep the outputs the builder wrote next to the build dir.
			for _, a := range r.actual {
				if _, err := os.Lstat(a); err == nil && r.buildDir != "" {
					os.Rename(a, filepath.Join(r.buildDir, filepath.Base(a)))
				}
			}
		}
		if r.failed {
			fsutil.RemoveAll(r.chroot)
		} else {
			store := r.b.store.Dir()
			r.b.pool.putChroot(r.chroot, strings.TrimPrefix(string(store), "/"))
		}
	} else if r.failed && !keep {
		for _, a := range r.actual {
			fsutil.RemoveAll(a)
		}
	}
	if r.buildDir != "" && !keep {
		if r.failed {
			fsutil.RemoveAll(r.buildDir)
		} else {
			r.b.pool.putBuildDir(r.buildDir)
		}
	}
}
