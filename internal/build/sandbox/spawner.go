//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"cairn/internal/build/sandbox/initprog"
)

// The spawner starts from this package's initialisation (the sandbox
// init itself starts earlier, from package initprog's).
func init() { MaybeRunInit(os.Args) }

// MaybeRunInit runs the sandbox spawner (see Spawner) and exits if args
// (os.Args) say that this process is one; otherwise it returns at once.
// Sandbox inits never get here: package initprog, which this package
// imports, runs them during its initialisation. Call it first thing in
// main, before anything starts goroutines that matter or touches the
// terminal.
func MaybeRunInit(args []string) {
	if len(args) > 0 && args[0] == spawnerArg0 {
		runSpawner()
	}
}

// spawnerArg0 is the argv[0] under which a Spawner re-executes the
// running binary.
const spawnerArg0 = "cairn-sandbox-spawner"

// A Spawner creates sandboxes for a caller that starts many: from the
// caller itself where initprog clones the init with shared memory
// (localStarts), and otherwise from a small helper process (the running
// binary re-executed once), as described here.
//
// Creating the namespaces means a real fork (with a user namespace, Go
// cannot use vfork), and a fork copies the page tables of the whole
// forking process, which the child's exec then frees again, while the
// parent takes a copy-on-write fault on each page it writes afterwards.
// For a caller that holds an evaluation and a database, that was a
// quarter of the CPU time of a trivial build. The helper is a few
// megabytes; what it forks is the same init, with the same namespaces,
// ids, parent-death signal and set-up as Start without a Spawner. The
// caller still prepares the root, sends the init its spec and reads its
// set-up errors itself (through pipes handed over with the request).
//
// The helper dies with the caller (parent-death signal), and so, through
// theirs, do the sandboxes it started. A Spawner is safe for concurrent
// use; Close kills the sandboxes it still runs (and stops the helper).
type Spawner struct {
	local *localStarts // nil: the helper starts the inits

	mu      sync.Mutex
	conn    *net.UnixConn
	waited  chan error // receives when the helper has been reaped
	nextID  uint64
	waiting map[uint64]chan spawnReply
	dead    error // why the helper is gone
}

// poolsNets says whether sandboxes without network get their namespace
// from a netPool (the helper's or localStarts'): only when cairn is root,
// so that the namespaces belong to a user namespace in which builds have
// no capabilities.
func (sp *Spawner) poolsNets() bool { return os.Geteuid() == 0 }

// poolsMnts says whether sandboxes stack their roots in pooled mount
// namespaces (see mntPool): only for inits started in-process by a root
// cairn.
func (sp *Spawner) poolsMnts() bool { return sp.local != nil && sp.local.poolsMnts() }

// NewSpawner returns a Spawner. Where it needs its helper, the helper
// starts with the first sandbox.
func NewSpawner() *Spawner {
	if initprog.SharesVM {
		return &Spawner{local: &localStarts{}}
	}
	return newHelperSpawner()
}

// newHelperSpawner returns a Spawner that starts the inits from its
// helper wherever it runs.
func newHelperSpawner() *Spawner { return &Spawner{} }

type spawnRequest struct {
	Op string // "start" or "kill"
	ID uint64
	// For "start"; the request carries the init's spec pipe, error pipe
	// and, if set, stdout and stderr, in this order.
	UID, GID, HostUID, HostGID int
	Network                    bool
	PoolNet                    bool // a network namespace from the spawner's netPool
	PoolMnt                    bool // a mount namespace from localStarts' mntPool
	Stdout, Stderr             bool
}

type spawnReply struct {
	Op     string // "started", "error" or "exit"
	ID     uint64
	Pid    int
	Errno  int    // "error": the errno of the failed start, if any
	Err    string // "error"
	Status int    // "exit": the wait status
}

// Close stops the helper; sandboxes it still runs are killed and reaped
// before it returns.
func (sp *Spawner) Close() error {
	if sp.local != nil {
		sp.local.close()
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.conn == nil {
		return nil
	}
	sp.conn.Close()
	sp.conn = nil
	<-sp.waited
	return nil
}

// up starts the helper if it is not running. sp.mu is held.
func (sp *Spawner) up() error {
	if sp.conn != nil {
		return nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("start sandbox spawner: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "spawner"), os.NewFile(uintptr(fds[1]), "spawner")
	defer theirs.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: []string{spawnerArg0}, Env: []string{},
		ExtraFiles:  []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if os.Geteuid() == 0 {
		// A mount namespace of its own, which it trims (see
		// trimMounts); without root the helper stays in ours.
		cmd.Args = append(cmd.Args, trimArg)
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	}
	// Its parent-death signal follows the forking thread (startLocked).
	waited := make(chan error, 1)
	if err := startLocked(cmd, waited, nil); err != nil {
		mine.Close()
		return fmt.Errorf("start sandbox spawner: %w", err)
	}
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		cmd.Process.Kill()
		<-waited
		return fmt.Errorf("start sandbox spawner: %w", err)
	}
	sp.conn, sp.waited, sp.dead = c.(*net.UnixConn), waited, nil
	sp.waiting = map[uint64]chan spawnReply{}
	go sp.readReplies(sp.conn)
	return nil
}

// readReplies hands the helper's replies to the waiting sandboxes; when
// the helper is gone, every waiting one gets an error.
func (sp *Spawner) readReplies(conn *net.UnixConn) {
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		var r spawnReply
		if err == nil {
			err = json.Unmarshal(buf[:n], &r)
		}
		sp.mu.Lock()
		if err != nil {
			if sp.conn == conn {
				sp.dead = fmt.Errorf("sandbox spawner: %w", err)
			} else {
				sp.dead = errors.New("sandbox spawner closed")
			}
			for id, ch := range sp.waiting {
				ch <- spawnReply{Op: "error", ID: id, Err: sp.dead.Error()}
				delete(sp.waiting, id)
			}
			sp.mu.Unlock()
			return
		}
		if ch, ok := sp.waiting[r.ID]; ok {
			ch <- r
			if r.Op != "started" {
				delete(sp.waiting, r.ID)
			}
		}
		sp.mu.Unlock()
	}
}

// launch asks the helper to start an init for s with the pipes specR
// (its spec) and errW (its set-up errors). (With localStarts, Start
// calls theirs.)
func (sp *Spawner) launch(s *initSpec, specR, errW, stdout, stderr *os.File) (*remote, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err := sp.up(); err != nil {
		return nil, err
	}
	sp.nextID++
	req := spawnRequest{Op: "start", ID: sp.nextID, UID: s.UID, GID: s.GID, HostUID: s.HostUID, HostGID: s.HostGID,
		Network: s.Network, PoolNet: s.PoolNet, Stdout: stdout != nil, Stderr: stderr != nil}
	fds := []int{int(specR.Fd()), int(errW.Fd())}
	for _, f := range []*os.File{stdout, stderr} {
		if f != nil {
			fds = append(fds, int(f.Fd()))
		}
	}
	ch := make(chan spawnReply, 2)
	sp.waiting[req.ID] = ch
	if err := sp.send(&req, fds); err != nil {
		delete(sp.waiting, req.ID)
		return nil, err
	}
	sp.mu.Unlock()
	r := <-ch
	sp.mu.Lock()
	if r.Op != "started" {
		return nil, r.err()
	}
	return &remote{sp: sp, id: req.ID, pid: r.Pid, replies: ch}, nil
}

// err is the error of an "error" reply.
func (r *spawnReply) err() error {
	if r.Errno != 0 {
		return fmt.Errorf("%s: %w", r.Err, syscall.Errno(r.Errno))
	}
	return errors.New(r.Err)
}

// send writes req (with fds) to the helper. sp.mu is held.
func (sp *Spawner) send(req *spawnRequest, fds []int) error {
	if sp.conn == nil {
		return errors.New("sandbox spawner closed")
	}
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := sp.conn.WriteMsgUnix(data, oob, nil); err != nil {
		return fmt.Errorf("sandbox spawner: %w", err)
	}
	return nil
}

// A remote is a sandbox init started by a Spawner's helper, or by its
// localStarts (which kill it with killf).
type remote struct {
	sp      *Spawner
	id      uint64
	pid     int
	replies chan spawnReply
	killf   func()

	once   sync.Once
	status syscall.WaitStatus
	err    error
	reaped atomic.Bool // the helper reported the exit
}

func (r *remote) kill() error {
	if r.killf != nil {
		r.killf()
		return nil
	}
	if r.reaped.Load() {
		// The init is gone, and with it every process of its PID
		// namespace: nothing to send (a build kills its sandbox after
		// every exit, to be sure).
		return nil
	}
	r.sp.mu.Lock()
	defer r.sp.mu.Unlock()
	return r.sp.send(&spawnRequest{Op: "kill", ID: r.id}, nil)
}

func (r *remote) wait() error {
	r.once.Do(func() {
		rep := <-r.replies
		if rep.Op != "exit" {
			r.err = errors.New(rep.Err)
			return
		}
		r.status = syscall.WaitStatus(rep.Status)
		r.reaped.Store(true)
	})
	if r.err != nil {
		return r.err
	}
	if r.status.Exited() && r.status.ExitStatus() == 0 {
		return nil
	}
	return &ExitError{Status: r.status}
}

// ExitError reports that the program of a sandbox started through a
// Spawner exited unsuccessfully or was killed by a signal.
type ExitError struct {
	Status syscall.WaitStatus
}

func (e *ExitError) Error() string {
	if e.Status.Signaled() {
		return "signal: " + e.Status.Signal().String()
	}
	return fmt.Sprintf("exit status %d", e.Status.ExitStatus())
}

// ExitCode returns the exit status, or -1 if the program was killed by a
// signal.
func (e *ExitError) ExitCode() int {
	if e.Status.Signaled() {
		return -1
	}
	return e.Status.ExitStatus()
}

// runSpawner is the helper: it starts inits as asked on the socket at
// fd 3 and reports their pids and exit statuses; when the socket closes
// (the caller died or closed the Spawner), it kills them and exits.
func runSpawner() {
	if len(os.Args) > 1 && os.Args[1] == trimArg {
		trimMounts()
	}
	f := os.NewFile(3, "spawner")
	c, err := net.FileConn(f)
	if err != nil {
		os.Exit(2)
	}
	f.Close()
	conn := c.(*net.UnixConn)
	var mu sync.Mutex // guards running, closing and writes to conn
	running := map[uint64]child{}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		os.Exit(2)
	}
	var nets *netPool
	if os.Geteuid() == 0 {
		nets, _ = newNetPool() // without it, pooled requests fail
	}
	var waiters sync.WaitGroup
	closing := false // the caller is gone: kill what starts from now on
	reply := func(r spawnReply) {
		data, _ := json.Marshal(&r)
		mu.Lock()
		conn.Write(data)
		mu.Unlock()
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break
		}
		var files []*os.File
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					for _, fd := range fds {
						files = append(files, os.NewFile(uintptr(fd), "fd"))
					}
				}
			}
		}
		var req spawnRequest
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			for _, f := range files {
				f.Close()
			}
			continue
		}
		switch req.Op {
		case "kill":
			mu.Lock()
			if ch, ok := running[req.ID]; ok {
				ch.kill()
			}
			mu.Unlock()
		case "start":
			want := 2
			if req.Stdout {
				want++
			}
			if req.Stderr {
				want++
			}
			if len(files) != want {
				for _, f := range files {
					f.Close()
				}
				reply(spawnReply{Op: "error", ID: req.ID, Err: "start sandbox: bad request"})
				continue
			}
			var stdout, stderr *os.File
			rest := files[2:]
			if req.Stdout {
				stdout, rest = rest[0], rest[1:]
			}
			if req.Stderr {
				stderr = rest[0]
			}
			// Concurrent builds start concurrently: a start returns
			// only once the child is running the init.
			waiters.Add(1)
			go func(req spawnRequest) {
				defer waiters.Done()
				supervise(func() (child, error) {
					c, err := startChild(&req, files[0], files[1], stdout, stderr, devNull, nets)
					for _, f := range files {
						f.Close()
					}
					return c, err
				}, func(c child, on bool) {
					mu.Lock()
					if on {
						running[req.ID] = c
						if closing {
							c.kill()
						}
					} else {
						delete(running, req.ID)
					}
					mu.Unlock()
				}, func(r spawnReply) {
					r.ID = req.ID
					reply(r)
				})
			}(req)
		}
	}
	mu.Lock()
	closing = true
	for _, ch := range running {
		ch.kill()
	}
	mu.Unlock()
	// Reap them, so that when Close returns they are gone.
	waiters.Wait()
	os.Exit(0)
}

// trimArg is the spawner's argv[1] when it runs in a mount namespace of
// its own (cairn is root).
const trimArg = "trim-mounts"

// trimMounts detaches, in the spawner's own mount namespace, everything
// mounted under /sys (cgroup hierarchies, tracefs, debugfs, bpf, pstore,
// efivarfs...: a dozen or more mounts on a systemd machine) and makes the
// rest private. Every sandbox starts from a copy of this namespace: each
// build copies these mounts in its clone, walks them to make them
// private and detaches them again with the old root, in kernel work that
// holds the global namespace lock, so concurrent builds wait for each
// other. No sandbox sees /sys's sub-mounts (they are not in its root);
// /sys itself stays, for sandbox-paths from it.
func trimMounts() {
	if unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") != nil {
		return
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var under []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if strings.HasPrefix(mp, "/sys/") {
			under = append(under, mp)
		}
	}
	// Deepest first; a mount under one already detached goes with it.
	slices.SortFunc(under, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, mp := range under {
		unix.Unmount(mp, unix.MNT_DETACH)
	}
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
