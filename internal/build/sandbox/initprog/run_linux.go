//go:build linux

package initprog

import "unsafe"

// Both are pushed by the runtime and syscall packages for use by
// linkname; pulling them, instead of importing os and syscall, is what
// lets this package be initialised before everything else.

//go:linkname runtimeArgs os.runtime_args
func runtimeArgs() []string

//go:linkname rawSyscall6 syscall.RawSyscall6
func rawSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2, errno uintptr)

func init() {
	if args := runtimeArgs(); len(args) == 0 || args[0] != Arg0 {
		return
	}
	// Package initialisation runs on the main thread, locked to the
	// main goroutine: every call below is made by the thread that
	// execs (ids set with raw setresuid apply to this thread only; the
	// runtime's other threads die with the exec).
	b, errno := readAll(3)
	if errno != 0 {
		fail(Failure{Op: BadProgram, Errno: uint32(errno)})
	}
	p, ok := Decode(b)
	if !ok {
		fail(Failure{Op: BadProgram, Errno: uint32(errEINVAL)})
	}
	f := p.Forkable()
	op, errno := f.run()
	fail(Failure{Op: op, Errno: uint32(errno)})
}

const errEINVAL = 22

// readAll reads fd to its end.
func readAll(fd uintptr) ([]byte, uintptr) {
	b := make([]byte, 0, 64<<10)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		spare := b[len(b):cap(b)]
		n, _, errno := rawSyscall6(sysRead, fd, uintptr(unsafe.Pointer(&spare[0])), uintptr(len(spare)), 0, 0, 0)
		switch {
		case errno == eintr:
			continue
		case errno != 0:
			return nil, errno
		case n == 0:
			return b, 0
		}
		b = b[:len(b)+int(n)]
	}
}

// fail reports f on fd 4 and exits 127.
func fail(f Failure) {
	msg := EncodeFailure(f)
	rawSyscall6(sysWrite, 4, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	for {
		rawSyscall6(sysExitGroup, 127, 0, 0, 0, 0, 0)
	}
}

// sockFprog is struct sock_fprog.
type sockFprog struct {
	len    uint16
	filter *byte
}
