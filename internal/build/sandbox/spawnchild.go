//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"cairn/internal/build/sandbox/initprog"
)

// supervise starts a child with start and reports its life to report:
// "error", or "started" and then, once the child is reaped, "exit".
// track(c, true) runs once the child runs, before "started" (a caller
// that is closing kills it there); track(c, false) once it has exited,
// before it is reaped, so that a kill allowed only while it is tracked
// cannot reach a reused pid. The goroutine keeps its thread until the
// child is reaped: the child's parent-death signal fires when the thread
// that cloned it exits, not the process (golang/go#27505).
func supervise(start func() (child, error), track func(c child, running bool), report func(spawnReply)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := start()
	if err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		report(spawnReply{Op: "error", Err: "start sandbox: " + err.Error(), Errno: int(errno)})
		return
	}
	track(c, true)
	report(spawnReply{Op: "started", Pid: c.pid()})
	c.exited()
	track(c, false)
	report(spawnReply{Op: "exit", Status: int(c.reap())})
}

// A child is a sandbox init started by the spawner.
type child interface {
	pid() int
	kill()
	exited()                  // waits until it has exited, without reaping it
	reap() syscall.WaitStatus // after exited
}

// startChild starts the init for req: forked from the spawner, which
// runs the set-up program read from specR in the child, or, where
// initprog cannot fork, the running binary exec'd as the init, which
// reads the program itself.
func startChild(req *spawnRequest, specR, errW, stdout, stderr, devNull *os.File, nets *netPool) (child, error) {
	if req.PoolNet && (nets == nil || !initprog.CanFork) {
		return nil, errors.New("no pool of network namespaces here")
	}
	if !initprog.CanFork {
		cmd := initCmd(req.UID, req.GID, req.HostUID, req.HostGID, req.Network, specR, errW, stdout, stderr)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &execChild{cmd}, nil
	}
	return forkInit(req, specR, errW, stdout, stderr, devNull, nets)
}

// forkInit forks the init from the spawner: no exec of a second Go
// binary, no second runtime start. The child gets the descriptors an
// exec'd init has (0 /dev/null, 1 and 2 the output, 4 the error pipe;
// the program closes 3), a session of its own and the parent-death
// signal, waits for its id maps and runs the program.
func forkInit(req *spawnRequest, specR, errW, stdout, stderr, devNull *os.File, nets *netPool) (child, error) {
	b, err := io.ReadAll(specR)
	if err != nil {
		return nil, fmt.Errorf("read set-up program: %w", err)
	}
	main, ok := initprog.Decode(b)
	if !ok {
		return nil, errors.New("read set-up program: malformed")
	}
	return forkProgram(req, main, errW, stdout, stderr, devNull, nets, nil)
}

// forkProgram is forkInit with the program at hand.
func forkProgram(req *spawnRequest, main *initprog.Program, errW, stdout, stderr, devNull *os.File, nets *netPool, mnts *mntPool) (child, error) {
	var err error
	if stdout == nil {
		stdout = devNull
	}
	if stderr == nil {
		stderr = devNull
	}
	// Each source is first copied above every target, so that placing
	// one cannot overwrite another.
	var pre initprog.Program
	op := func(nr uintptr, args ...initprog.Arg) int {
		pre.Ops = append(pre.Ops, initprog.Op{Nr: uint64(nr), Args: args})
		return len(pre.Ops) - 1
	}
	type move struct {
		f  *os.File
		to uintptr
	}
	moves := []move{{devNull, 0}, {stdout, 1}, {stderr, 2}, {errW, initprog.MainErrFd}}
	// In a pooled mount namespace the init makes its user namespace
	// late and asks for its id maps over a socket (see userNamespace).
	var maps *os.File
	if req.PoolMnt {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("socketpair: %w", err)
		}
		theirs := os.NewFile(uintptr(fds[1]), "id maps")
		defer theirs.Close()
		maps = os.NewFile(uintptr(fds[0]), "id maps")
		defer maps.Close()
		moves = append(moves, move{theirs, mapFd})
	}
	high := make([]int, len(moves))
	for i, m := range moves {
		high[i] = op(unix.SYS_FCNTL, num(m.f.Fd()), num(unix.F_DUPFD_CLOEXEC), num(100))
	}
	for i, m := range moves {
		op(unix.SYS_DUP3, initprog.Result(high[i], 0), num(m.to), num(0))
	}
	op(unix.SYS_SETSID)
	op(unix.SYS_PRCTL, num(unix.PR_SET_PDEATHSIG), num(uintptr(unix.SIGKILL)))
	// The clone copied every descriptor this process had open, those of
	// other sandboxes being started too: until they are closed, a build
	// whose init holds another's error pipe or terminal keeps that one's
	// Start or log from ending. The program's own close_range only marks
	// them close-on-exec, for inits that are exec'd. (Before Linux 5.9
	// they stay until the exec.) Failures of the main program go to
	// initprog.MainErrFd, errW's place.
	keep := uintptr(initprog.MainErrFd)
	if req.PoolMnt {
		keep = mapFd
	}
	cr := op(unix.SYS_CLOSE_RANGE, num(keep+1), num(uintptr(^uint32(0))), num(0))
	pre.Ops[cr].OKErrno = initprog.AnyErrno

	// A pooled mount namespace: the init inherits it, and its root,
	// from this thread, which enters it and is locked once more than
	// supervise unlocks: it leaves once the init is reaped, or, if it
	// cannot, ends with its goroutine.
	var mns *mntNS
	if req.PoolMnt {
		if mnts == nil {
			return nil, errors.New("no pool of mount namespaces here")
		}
		runtime.LockOSThread()
		if mns, err = mnts.enter(); err != nil {
			return nil, err
		}
	}
	discard := func() {
		if mns != nil {
			mns.close()
		}
	}
	var sync [2]int
	if err := unix.Pipe2(sync[:], unix.O_CLOEXEC); err != nil {
		discard()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	// A pooled network namespace: the init inherits it from this
	// thread, which enters it for the clone only.
	var ns *netNS
	if req.PoolNet {
		if ns, err = nets.get(); err != nil {
			unix.Close(sync[0])
			unix.Close(sync[1])
			discard()
			return nil, err
		}
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			ns.close()
			unix.Close(sync[0])
			unix.Close(sync[1])
			discard()
			return nil, fmt.Errorf("enter network namespace: %w", err)
		}
	}
	pid, release, errno := initprog.Fork(cloneFlags(req.Network || req.PoolNet, req.PoolMnt), pre.Forkable(), main.Forkable(), sync[0], sync[1], int(errW.Fd()))
	if ns != nil && unix.Setns(nets.host, unix.CLONE_NEWNET) != nil {
		// This thread must not run anything else: locked once more than
		// its goroutine unlocks, it ends with it.
		runtime.LockOSThread()
		if errno == 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
		errno = uintptr(unix.EIO)
	}
	if maps != nil {
		moves[len(moves)-1].f.Close() // the init has its copy
	}
	unix.Close(sync[0])
	if errno != 0 {
		unix.Close(sync[1])
		if ns != nil {
			ns.close()
		}
		discard()
		return nil, os.NewSyscallError("clone", syscall.Errno(errno))
	}
	c := &forkedChild{p: pid, release: func(unix.WaitStatus) { release() }}
	if ns != nil || mns != nil {
		// Back to the pools once the init is reaped (its namespaces'
		// processes are all gone by then): the network namespace checked
		// on a goroutine of its own while the exit is reported, the mount
		// namespace by this thread, which is in it.
		c.release = func(ws unix.WaitStatus) {
			release()
			if ns != nil {
				go nets.put(ns)
			}
			if mns != nil {
				mnts.put(mns, ws)
				if mns.leave() == nil {
					runtime.UnlockOSThread()
				}
			}
		}
	}
	if !req.PoolMnt {
		if err := writeIDMaps(pid, req); err != nil {
			unix.Close(sync[1]) // the child exits
			c.exited()
			c.reap()
			return nil, err
		}
	}
	_, err = unix.Write(sync[1], []byte{0})
	unix.Close(sync[1])
	if err == nil && req.PoolMnt {
		err = mapLate(c, maps, req, mns.askedForMaps)
	}
	if err != nil {
		c.kill()
		c.exited()
		c.reap()
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	return c, nil
}

// mapLate writes the id maps of an init in a pooled mount namespace once
// it asks for them on maps. An init that stops before it asks has
// reported why on its error pipe.
func mapLate(c *forkedChild, maps *os.File, req *spawnRequest, asked func(pid int)) error {
	var b [1]byte
	for {
		n, err := unix.Read(int(maps.Fd()), b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return nil
		}
		break
	}
	if asked != nil {
		asked(c.p)
	}
	if err := writeIDMaps(c.p, req); err != nil {
		return err
	}
	_, err := unix.Write(int(maps.Fd()), b[:])
	return err
}

// cloneFlags are the namespaces a sandbox's init is cloned with: all of
// them, or, in a pooled mount namespace, those but the mount namespace
// and the user namespace (which the init makes later; see mntPool).
func cloneFlags(network, pooledMnt bool) uintptr {
	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if !pooledMnt {
		flags |= unix.CLONE_NEWUSER | unix.CLONE_NEWNS
	}
	if !network {
		flags |= unix.CLONE_NEWNET
	}
	return flags
}

// writeIDMaps maps the init's user namespace's uid and gid to the host
// ids, with setgroups denied, as os/exec does for SysProcAttr's maps.
func writeIDMaps(pid int, req *spawnRequest) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	for _, w := range []struct{ file, data string }{
		{"uid_map", fmt.Sprintf("%d %d 1\n", req.UID, req.HostUID)},
		{"setgroups", "deny"},
		{"gid_map", fmt.Sprintf("%d %d 1\n", req.GID, req.HostGID)},
	} {
		if err := os.WriteFile(dir+w.file, []byte(w.data), 0); err != nil {
			return err
		}
	}
	return nil
}

// A forkedChild is an init from initprog.Fork; release, once it has
// exited, frees what it ran on.
type forkedChild struct {
	p       int
	release func(unix.WaitStatus)
}

func (c *forkedChild) pid() int { return c.p }
func (c *forkedChild) kill()    { unix.Kill(c.p, unix.SIGKILL) }

func (c *forkedChild) exited() {
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, c.p, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
}

func (c *forkedChild) reap() syscall.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(c.p, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	c.release(ws)
	return syscall.WaitStatus(ws)
}

type execChild struct{ cmd *exec.Cmd }

func (c *execChild) pid() int { return c.cmd.Process.Pid }
func (c *execChild) kill()    { c.cmd.Process.Kill() }
func (c *execChild) exited()  { c.cmd.Wait() }
func (c *execChild) reap() syscall.WaitStatus {
	return c.cmd.ProcessState.Sys().(syscall.WaitStatus)
}
