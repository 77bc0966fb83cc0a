//go:build linux

package initprog

import "unsafe"

// Pushed by the runtime for packages that fork by themselves (the same
// calls syscall.forkExec makes around its clone).

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

//go:linkname runtimeAfterForkInChild syscall.runtime_AfterForkInChild
func runtimeAfterForkInChild()

// words per op in a Forkable: nr, OKErrno, Skip, the mask of Ref
// arguments, six argument words, six OR words.
const opWords = 16

// A Forkable is a Program prepared to run in a child forked from a Go
// process, where nothing may allocate or grow the stack: every argument
// is a machine word, pointers included, computed in advance.
type Forkable struct {
	code    []uintptr
	results []uintptr
	keep    []any // what the pointers in code point to
}

// Forkable prepares p for Fork. p must not change until the child has
// exec'd or exited.
func (p *Program) Forkable() *Forkable {
	f := &Forkable{code: make([]uintptr, len(p.Ops)*opWords), results: make([]uintptr, len(p.Ops)), keep: []any{p}}
	for i := range p.Ops {
		op := &p.Ops[i]
		w := f.code[i*opWords : (i+1)*opWords]
		w[0], w[1], w[2] = uintptr(op.Nr), uintptr(op.OKErrno), uintptr(op.Skip)
		for j, a := range op.Args {
			switch a.Kind {
			case Imm:
				w[4+j] = uintptr(a.Imm)
			case Bytes:
				if len(a.Data) > 0 {
					w[4+j] = uintptr(unsafe.Pointer(&a.Data[0]))
				}
			case Ref:
				w[3] |= 1 << j
				w[4+j], w[10+j] = uintptr(a.Ref), uintptr(a.Imm)
			case List:
				ptrs := make([]*byte, len(a.List)+1)
				for k, e := range a.List {
					ptrs[k] = &e[0]
				}
				f.keep = append(f.keep, ptrs)
				w[4+j] = uintptr(unsafe.Pointer(&ptrs[0]))
			case Fprog:
				fp := &sockFprog{len: uint16(len(a.Data) / 8)}
				if len(a.Data) > 0 {
					fp.filter = &a.Data[0]
				}
				f.keep = append(f.keep, fp)
				w[4+j] = uintptr(unsafe.Pointer(fp))
			}
		}
	}
	return f
}

// Fork clones a child with the clone flags (CLONE_NEW*; SIGCHLD is
// added) that runs prelude and then main, and returns its pid. The child
// first waits until the parent writes a byte to the pipe whose ends are
// syncR and syncW (after writing its id maps); a closed pipe ends it.
// It reports a failure as EncodeFailure's 8 bytes: a failing op of
// prelude as PreludeFailed on errFd, one of main by its index on
// MainErrFd, where prelude must have put a copy of errFd (an exec'd init
// has it there too); prelude may then close errFd. The caller
// must hold its OS thread locked (the child's parent-death signal
// follows the thread), keep both Forkables unchanged and call release
// once the child has exec'd or exited: on amd64 the child runs in the
// caller's memory, on a stack that release frees.
func Fork(flags uintptr, prelude, main *Forkable, syncR, syncW, errFd int) (pid int, release func(), errno uintptr) {
	if shareVM {
		return forkVM(flags, prelude, main, syncR, syncW, errFd)
	}
	r, e := forkChild(flags, prelude, main, uintptr(syncR), uintptr(syncW), uintptr(errFd))
	return int(r), func() {}, e
}

// SharesVM says whether Fork's child shares the caller's memory (and so
// costs the same however large the caller is) instead of copying it.
const SharesVM = shareVM

// PreludeFailed is Failure.Op for a failing op of a Fork prelude.
const PreludeFailed = -2

// forkChild is Fork where the child cannot share the caller's memory.
// After the clone the child only makes raw system calls and the
// runtime's after-fork call, all of which are nosplit, as is run:
// runtimeBeforeFork poisoned the stack guard, so growing the stack, or
// allocating, would crash the child. It never returns in the child.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkChild(flags uintptr, prelude, main *Forkable, syncR, syncW, errFd uintptr) (uintptr, uintptr) {
	runtimeBeforeFork()
	pid, _, errno := rawSyscall6(sysClone, flags|sigchld, 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		runtimeAfterFork()
		return pid, errno
	}
	if !waitForMaps(syncR, syncW) {
		rawSyscall6(sysExitGroup, 127, 0, 0, 0, 0, 0)
	}
	runtimeAfterForkInChild()
	runChild(prelude, main, errFd)
	return 0, 0
}

// waitForMaps is the child's wait for the parent's byte on the sync
// pipe. It reports whether the byte came.
//
//go:nosplit
//go:norace
//go:nocheckptr
func waitForMaps(syncR, syncW uintptr) bool {
	var buf [1]byte
	rawSyscall6(sysClose, syncW, 0, 0, 0, 0, 0)
	for {
		r1, _, errno := rawSyscall6(sysRead, syncR, uintptr(unsafe.Pointer(&buf[0])), 1, 0, 0, 0)
		if errno == eintr {
			continue
		}
		rawSyscall6(sysClose, syncR, 0, 0, 0, 0, 0)
		return errno == 0 && r1 == 1
	}
}

// MainErrFd is where a forked init's main program reports its failure.
const MainErrFd = 4

// runChild runs prelude and main in the child, reports a failure (see
// Fork) and exits (an exec'd main does not come back).
//
//go:nosplit
//go:norace
//go:nocheckptr
func runChild(prelude, main *Forkable, errFd uintptr) {
	var buf [8]byte
	failed, errno := prelude.run()
	if errno != 0 {
		failed = PreludeFailed
	} else {
		failed, errno = main.run()
		errFd = MainErrFd
	}
	buf[0], buf[1], buf[2], buf[3] = byte(failed), byte(failed>>8), byte(failed>>16), byte(failed>>24)
	buf[4], buf[5], buf[6], buf[7] = byte(errno), byte(errno>>8), byte(errno>>16), byte(errno>>24)
	rawSyscall6(sysWrite, errFd, uintptr(unsafe.Pointer(&buf[0])), 8, 0, 0, 0)
	for {
		rawSyscall6(sysExitGroup, 127, 0, 0, 0, 0, 0)
	}
}

// run makes f's calls in order. It returns the index of the first
// failing one and its errno, or len(f.results) and 0 when the ops run
// out (without an exec, or an exit_group). It makes no call that could
// grow the stack or allocate (see forkChild).
//
//go:nosplit
//go:norace
//go:nocheckptr
func (f *Forkable) run() (int, uintptr) {
	var a [6]uintptr
	code, res := f.code, f.results
	for i := 0; i < len(res); i++ {
		w := code[i*opWords : (i+1)*opWords]
		for j := 0; j < 6; j++ {
			a[j] = w[4+j]
			if w[3]&(1<<j) != 0 {
				a[j] = res[w[4+j]] | w[10+j]
			}
		}
		r1, _, errno := rawSyscall6(w[0], a[0], a[1], a[2], a[3], a[4], a[5])
		if errno != 0 {
			if w[1] == ^uintptr(0) || errno == w[1] {
				i += int(w[2])
				continue
			}
			return i, errno
		}
		res[i] = r1
	}
	return len(res), 0
}

const eintr = 4
