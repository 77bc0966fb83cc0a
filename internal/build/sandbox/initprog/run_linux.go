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
	fail(p.run())
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
		case errno == 4: // EINTR
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

// run makes p's calls; it returns only on a failure (or when the ops
// run out without an exec).
func (p *Program) run() Failure {
	results := make([]uintptr, len(p.Ops))
	// Everything the arguments point to stays reachable from keep until
	// the exec (the collector does not move heap objects).
	var keep []any
	for i := 0; i < len(p.Ops); i++ {
		op := &p.Ops[i]
		var a [6]uintptr
		for j, arg := range op.Args {
			switch arg.Kind {
			case Imm:
				a[j] = uintptr(arg.Imm)
			case Bytes:
				if len(arg.Data) > 0 {
					a[j] = uintptr(unsafe.Pointer(&arg.Data[0]))
				}
			case Ref:
				a[j] = results[arg.Ref] | uintptr(arg.Imm)
			case List:
				ptrs := make([]*byte, len(arg.List)+1)
				for k, e := range arg.List {
					ptrs[k] = &e[0]
				}
				keep = append(keep, ptrs)
				a[j] = uintptr(unsafe.Pointer(&ptrs[0]))
			case Fprog:
				f := &sockFprog{len: uint16(len(arg.Data) / 8)}
				if len(arg.Data) > 0 {
					f.filter = &arg.Data[0]
				}
				keep = append(keep, f)
				a[j] = uintptr(unsafe.Pointer(f))
			}
		}
		r, _, errno := rawSyscall6(uintptr(op.Nr), a[0], a[1], a[2], a[3], a[4], a[5])
		if errno != 0 {
			if op.OKErrno == AnyErrno || uint64(errno) == op.OKErrno {
				i += op.Skip
				continue
			}
			return Failure{Op: i, Errno: uint32(errno)}
		}
		results[i] = r
	}
	_ = keep
	return Failure{Op: len(p.Ops)}
}
