package build

import (
	"context"
	"errors"
	"fmt"
	"github.com/dsnet/compress/bzip2"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

// The generated /etc of the sandbox (Nix 2.8).
const (
	etcPasswd = "root:x:0:0:Nix build user:/build:/noshell\n" +
		"nixbld:x:1000:100:Nix build user:/build:/noshell\n" +
		"nobody:x:65534:65534:Nobody:/:/noshell\n"
	etcGroup    = "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n"
	etcHosts    = "127.0.0.1 localhost\n::1 localhost\n"
	etcNsswitch = "hosts: files dns\nservices: files\n"
)

// run starts the builder of req and waits for it. On success the
// outputs are at run.actual; they are not yet checked.
func (b *Builder) run(ctx context.Context, req *Request, closure []storepath.Path, valid map[string]*store.PathInfo, check bool) (*buildRun, error) {
	r := &buildRun{b: b, actual: map[string]string{}, fromUID: -1}
	drv := b.print(req.DrvPath)
	if strings.HasPrefix(req.Builder, "builtin:") {
		return r, b.runBuiltin(ctx, req, r, valid, check)
	}
	sandboxed := !b.cfg.NoSandbox
	if req.NoChroot {
		if !b.cfg.AllowNoChroot && sandboxed {
			return r, fmt.Errorf("derivation '%s' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'", drv)
		}
		sandboxed = false
	}
	if !sandboxed {
		if b.store.RealStoreDir() != string(b.store.Dir()) {
			return r, fmt.Errorf("build %s: building without the sandbox needs the store at its logical location %s, not %s",
				drv, b.store.Dir(), b.store.RealStoreDir())
		}
		if check || len(valid) > 0 {
			return r, fmt.Errorf("build %s: rebuilding valid outputs needs the sandbox", drv)
		}
	}
	var err error
	r.buildDir, err = b.pool.buildDir(b.cfg.TmpDir, "nix-build-"+req.DrvPath.Name()+"-")
	if err != nil {
		return r, fmt.Errorf("build %s: create build directory: %w", drv, err)
	}
	hostUID, hostGID := os.Geteuid(), os.Getegid()
	if sandboxed && b.users != nil {
		u, release, err := b.users.acquire(ctx)
		if err != nil {
			return r, fmt.Errorf("build %s: %w", drv, err)
		}
		// Held until the builder and its sandbox are gone (execute
		// returns after reaping them).
		defer release()
		hostUID, hostGID = u.UID, u.GID
		if err := os.Chown(r.buildDir, hostUID, hostGID); err != nil {
			return r, fmt.Errorf("build %s: %w", drv, err)
		}
	}
	r.fromUID = hostUID
	top := r.buildDir
	if sandboxed {
		top = SandboxBuildDir
	}
	exports, err := b.exportGraphs(ctx, req, closure)
	if err != nil {
		return r, err
	}
	su, err := setup(req, b.store.Dir(), top, b.cfg.Cores, b.cfg.ImpureEnv, exports)
	if err != nil {
		return r, err
	}
	for name, data := range su.Files {
		p := filepath.Join(r.buildDir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return r, fmt.Errorf("build %s: %w", drv, err)
		}
		if err := os.Lchown(p, hostUID, hostGID); err != nil {
			return r, fmt.Errorf("build %s: %w", drv, err)
		}
	}
	spec := &sandbox.Spec{
		Path: req.Builder, Args: su.Args, Env: su.Env, Dir: top,
		HostUID: hostUID, HostGID: hostGID, Linux32: req.Platform == "i686-linux",
		DevShmSize: b.cfg.DevShmSize, AllowNewPrivileges: b.cfg.AllowNewPrivileges,
	}
	for id, o := range req.Outputs {
		if _, ok := valid[id]; ok && !check {
			continue
		}
		r.actual[id] = filepath.Join(b.store.RealStoreDir(), o.Path.Base())
	}
	if sandboxed {
		if err := b.prepareChroot(req, r, spec, closure, hostGID); err != nil {
			return r, fmt.Errorf("build %s: prepare sandbox: %w", drv, err)
		}
	}
	// Leftovers of an earlier attempt at invalid outputs (we hold their
	// locks).
	for _, a := range r.actual {
		if _, err := os.Lstat(a); err == nil {
			if _, err := fsutil.RemoveAll(a); err != nil {
				return r, fmt.Errorf("build %s: remove stale output: %w", drv, err)
			}
		}
	}
	return r, b.execute(ctx, req, r, spec, sandboxed)
}

// prepareChroot creates the sandbox root <store>/<drv>.chroot as Nix
// does, with its store directory (where the outputs are written, so that
// they can be moved into the store), and describes /etc and the mounts
// of the inputs and /build; the rest of the sandbox's root is a shared
// skeleton (see sandbox.Skeletons).
func (b *Builder) prepareChroot(req *Request, r *buildRun, spec *sandbox.Spec, closure []storepath.Path, hostGID int) error {
	r.chroot = filepath.Join(b.store.RealStoreDir(), req.DrvPath.Base()+".chroot")
	if _, err := os.Lstat(r.chroot); err == nil {
		if _, err := fsutil.RemoveAll(r.chroot); err != nil {
			return err
		}
	}
	storeIn := filepath.Join(r.chroot, string(b.store.Dir()))
	reused := false
	if d := b.pool.take(&b.pool.chroots); d != "" {
		if err := os.Rename(d, r.chroot); err == nil {
			reused = true
		} else {
			fsutil.RemoveAll(d)
		}
	}
	if reused {
		// The previous build's mount points (and anything else) go,
		// except those this build mounts on again.
		want := map[string]bool{}
		for _, p := range closure {
			want[p.Base()] = true
		}
		ents, err := os.ReadDir(storeIn)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !want[e.Name()] || e.Type()&os.ModeSymlink != 0 {
				if _, err := fsutil.RemoveAll(filepath.Join(storeIn, e.Name())); err != nil {
					return err
				}
			}
		}
		for _, d := range []string{r.chroot, filepath.Dir(storeIn)} {
			if err := os.Chmod(d, map[bool]os.FileMode{true: 0o750, false: 0o755}[d == r.chroot]); err != nil {
				return err
			}
		}
	} else {
		if err := os.Mkdir(r.chroot, 0o750); err != nil {
			return err
		}
		if err := os.MkdirAll(storeIn, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chown(storeIn, os.Geteuid(), hostGID); err != nil {
		return err
	}
	if err := os.Chmod(storeIn, os.ModeSticky|0o775); err != nil {
		return err
	}
	// /etc, /dev and /proc come from a skeleton shared by the builds of
	// b (see sandbox.Skeletons).
	spec.Skeletons, spec.Spawner = b.skel, b.spawner
	spec.Files = map[string][]byte{"/etc/passwd": []byte(etcPasswd), "/etc/group": []byte(etcGroup)}
	fod := req.IsFixedOutput()
	if fod {
		spec.Files["/etc/nsswitch.conf"] = []byte(etcNsswitch)
		for _, f := range []string{"resolv.conf", "services", "hosts"} {
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: "/etc/" + f, Target: "/etc/" + f, ReadOnly: true, Optional: true})
		}
	} else {
		spec.Files["/etc/hosts"] = []byte(etcHosts)
	}
	euid := os.Geteuid()
	for _, p := range closure {
		real := filepath.Join(b.store.RealStoreDir(), p.Base())
		fi, err := os.Lstat(real)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			// A bind mount would follow it; copy the link (Nix copies
			// non-directories into the chroot).
			target, err := os.Readlink(real)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, filepath.Join(storeIn, p.Base())); err != nil {
				return err
			}
			continue
		}
		if fi.Mode().IsRegular() && linkable(fi, spec.HostUID, euid) {
			// As Nix: a file is hard-linked into the chroot, which costs
			// no mount point and no mounts (a derivation with hundreds of
			// file inputs made as many of each).
			dst := filepath.Join(storeIn, p.Base())
			if reused {
				os.Remove(dst) // a mount point, or an old link
			}
			if os.Link(real, dst) == nil {
				continue
			}
		}
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: real, Target: b.print(p), ReadOnly: true})
	}
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: r.buildDir, Target: SandboxBuildDir})
	if slices.Contains(b.cfg.SystemFeatures, "kvm") {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: "/dev/kvm", Target: "/dev/kvm", ReadOnly: true, Optional: true})
	}
	spec.Mounts = append(spec.Mounts, b.cfg.SandboxPaths...)
	spec.Root = r.chroot
	spec.Network = fod
	for id := range r.actual {
		r.actual[id] = filepath.Join(storeIn, req.Outputs[id].Path.Base())
	}
	return nil
}

// execute runs the builder, logging its output, and enforces the time
// limits.
func (b *Builder) execute(ctx context.Context, req *Request, r *buildRun, spec *sandbox.Spec, sandboxed bool) error {
	drv := b.print(req.DrvPath)
	// The log file is created while the sandbox starts: making its
	// directory and file is most of a millisecond of file-system work,
	// and the builder's output waits in the pseudo-terminal meanwhile.
	type openedLog struct {
		w   io.Writer
		err error
	}
	logc := make(chan openedLog, 1)
	go func() {
		w, err := b.openLog(req, r)
		logc <- openedLog{w, err}
	}()
	// Like Nix, the builder writes to a pseudo-terminal in raw mode.
	pr, pw, err := sandbox.OpenPty(spec.HostUID)
	if err != nil {
		closeLog((<-logc).w)
		return fmt.Errorf("build %s: %w", drv, err)
	}
	spec.Stdout, spec.Stderr = pw, pw
	var proc *sandbox.Process
	if sandboxed {
		proc, err = sandbox.Start(ctx, spec)
	} else {
		proc, err = sandbox.StartDirect(ctx, spec)
	}
	pw.Close()
	lg := <-logc
	if err != nil {
		pr.Close()
		closeLog(lg.w)
		if lg.err != nil {
			return lg.err
		}
		if errors.Is(err, sandbox.ErrUnavailable) {
			return fmt.Errorf("build %s: %w", drv, err)
		}
		return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("while setting up the build environment of '%s': %v", drv, err), Err: err}
	}
	if lg.err != nil {
		proc.Kill()
		proc.Wait()
		pr.Close()
		return lg.err
	}
	sink := b.newLogSink(req, lg.w)
	defer sink.close()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var tooBig atomic.Bool
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 32<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				sink.Write(buf[:n])
				if b.cfg.MaxLogSize > 0 && sink.size > b.cfg.MaxLogSize && !tooBig.Swap(true) {
					proc.Kill()
				}
			}
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()

	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
	var killedFor string
loop:
	for {
		select {
		case waitErr = <-exited:
			break loop
		case <-ctx.Done():
			proc.Kill()
			killedFor = "cancelled"
		case <-tick.C:
			now := time.Now()
			if b.cfg.Timeout > 0 && now.Sub(start) > b.cfg.Timeout && killedFor == "" {
				killedFor = fmt.Sprintf("timed out after %d seconds", int(b.cfg.Timeout.Seconds()))
				proc.Kill()
			}
			if b.cfg.MaxSilentTime > 0 && now.Sub(time.Unix(0, last.Load())) > b.cfg.MaxSilentTime && killedFor == "" {
				killedFor = fmt.Sprintf("timed out after %d seconds of silence", int(b.cfg.MaxSilentTime.Seconds()))
				proc.Kill()
			}
		}
	}
	// Whatever the builder left running goes too, so the pipe closes.
	proc.Kill()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	pr.Close()
	<-copied

	switch {
	case killedFor == "cancelled":
		r.failed = true
		return fmt.Errorf("build %s: %w", drv, ctx.Err())
	case killedFor != "":
		r.failed = true
		return &Error{Kind: TimedOut, Drv: drv, Msg: fmt.Sprintf("building '%s' %s", drv, killedFor)}
	case tooBig.Load():
		r.failed = true
		return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("build of '%s' failed: %d bytes of log output exceed the limit of %d", drv, sink.size, b.cfg.MaxLogSize)}
	case waitErr != nil:
		r.failed = true
		msg := fmt.Sprintf("builder for '%s' %s", drv, statusString(waitErr))
		if tail := sink.tail(); len(tail) > 0 {
			msg += fmt.Sprintf(";\nlast %d log lines:\n", len(tail))
			for _, l := range tail {
				msg += "> " + l + "\n"
			}
			msg += fmt.Sprintf("For full logs, run 'nix log %s'.", drv)
		}
		return &Error{Kind: Failed, Drv: drv, Msg: msg, Err: waitErr}
	}
	return nil
}

// statusString renders a wait error as Nix's statusToString.
func statusString(err error) string {
	var se *sandbox.ExitError
	if errors.As(err, &se) {
		if se.Status.Signaled() {
			return fmt.Sprintf("failed due to signal %d (%s)", int(se.Status.Signal()), sigDescription(se.Status.Signal()))
		}
		return fmt.Sprintf("failed with exit code %d", se.Status.ExitStatus())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return fmt.Sprintf("failed due to signal %d (%s)", int(ws.Signal()), sigDescription(ws.Signal()))
			}
			return fmt.Sprintf("failed with exit code %d", ws.ExitStatus())
		}
	}
	return "died abnormally: " + err.Error()
}

// sigDescription is strsignal(3) for the common signals.
func sigDescription(s syscall.Signal) string {
	str := s.String()
	if len(str) > 0 {
		return strings.ToUpper(str[:1]) + str[1:]
	}
	return str
}

// openLog creates the log file <logDir>/drvs/<2>/<rest>.bz2, compressed
// with bzip2 as Nix 2.8 stores build logs (compress-build-log), so
// `nix log` and `nix-store --read-log` read ours too.
func (b *Builder) openLog(req *Request, r *buildRun) (io.Writer, error) {
	if b.cfg.NoLogFile {
		return nil, nil
	}
	base := req.DrvPath.Base()
	dir := filepath.Join(b.cfg.LogDir, "drvs", base[:2])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	r.logFile = filepath.Join(dir, base[2:]+".bz2")
	f, err := os.Create(r.logFile)
	if err != nil {
		return nil, fmt.Errorf("create build log: %w", err)
	}
	z, _ := b.logz.Get().(*bzip2.Writer)
	if z != nil {
		err = z.Reset(f)
	} else {
		z, err = bzip2.NewWriter(f, &bzip2.WriterConfig{Level: bzip2.DefaultCompression})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create build log: %w", err)
	}
	return &compressedLog{f: f, z: z, pool: &b.logz}, nil
}

// compressedLog is a bzip2-compressed log file.
type compressedLog struct {
	f    *os.File
	z    *bzip2.Writer
	pool *sync.Pool // where z goes when the stream is ended
}

func (l *compressedLog) Write(p []byte) (int, error) {
	if l.z == nil {
		return 0, os.ErrClosed
	}
	return l.z.Write(p)
}

// Close ends the bzip2 stream, closes the file and gives the writer
// back for the next log (Reset makes it as new).
func (l *compressedLog) Close() error {
	if l.z == nil {
		return os.ErrClosed
	}
	err := l.z.Close()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && l.pool != nil {
		l.pool.Put(l.z)
	}
	l.z = nil
	return err
}

// logSink receives the builder's output: it stores it, echoes it and
// keeps the last lines for error messages, as Nix's handleChildOutput:
// lines end at '\n', a '\r' restarts the current line, and "@nix " lines
// are not part of the tail.
type logSink struct {
	mu     sync.Mutex
	onLine func(string)
	n      int
	file   io.Writer
	echo   io.Writer
	lines  []string
	cur    []byte
	size   int64
}

func newLogSink(n int, file, echo io.Writer) *logSink {
	return &logSink{n: n, file: file, echo: echo}
}

func (b *Builder) newLogSink(req *Request, file io.Writer) *logSink {
	s := newLogSink(b.cfg.LogLines, file, b.cfg.Log)
	if f := b.cfg.LogLine; f != nil {
		drv := req.DrvPath
		s.onLine = func(line string) { f(drv, line) }
	}
	return s
}

func (s *logSink) Write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size += int64(len(p))
	if s.file != nil {
		s.file.Write(p)
	}
	if s.echo != nil {
		s.echo.Write(p)
	}
	for _, c := range p {
		switch c {
		case '\n':
			s.flushLine()
		case '\r':
			s.cur = s.cur[:0]
		default:
			s.cur = append(s.cur, c)
		}
	}
}

func (s *logSink) flushLine() {
	line := string(s.cur)
	s.cur = s.cur[:0]
	if s.onLine != nil {
		s.onLine(line)
	}
	if strings.HasPrefix(line, "@nix ") {
		return
	}
	s.lines = append(s.lines, line)
	if len(s.lines) > s.n {
		s.lines = s.lines[len(s.lines)-s.n:]
	}
}

// tail returns the last lines, the unfinished one included.
func (s *logSink) tail() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cur) > 0 {
		s.flushLine()
	}
	return append([]string(nil), s.lines...)
}

// closeLog closes a log file from openLog, if there is one.
func closeLog(w io.Writer) {
	if c, ok := w.(io.Closer); ok && w != nil {
		c.Close()
	}
}

func (s *logSink) close() {
	s.mu.Lock()
	if len(s.cur) > 0 {
		s.flushLine()
	}
	s.mu.Unlock()
	closeLog(s.file)
}

// linkable says whether a store file may be hard-linked into a sandbox
// whose builder runs as host user uid: only if the builder does not own
// it. A link shares the inode, so only its owner and mode keep the
// builder from changing it, where a bind mount would be read-only; as a
// build user (cairn as root) the builder owns nothing in the store.
func linkable(fi os.FileInfo, uid, euid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && euid == 0 && uid > 0 && int(st.Uid) != uid && fi.Mode()&0o222 == 0
}
