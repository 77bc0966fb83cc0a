//go:build linux && amd64 && !race

package initprog

import "unsafe"

// The child of Fork shares the spawner's memory (CLONE_VM) and runs on a
// stack of its own until it execs: no page tables copied, and no
// copy-on-write faults in the spawner afterwards. Forking the spawner
// instead marked all of its pages copy-on-write at every build; it then
// took a fault on each one it wrote, and each fork held its memory map
// against the other builds' faults and forks.
const shareVM = true

const (
	sysMmap        = 9
	sysMunmap      = 11
	sysRtSigaction = 13
	sysRtSigmask   = 14
	cloneVMFlag    = 0x100 // CLONE_VM
	vmStackSize    = 64 << 10
	protReadWrite  = 0x3
	mapStack       = 0x2 | 0x20 | 0x20000 // MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK
)

// cloneVM is in clonevm_amd64.s.
func cloneVM(flags, stack uintptr, a *vmChild) (pid, errno uintptr)

// A vmChild is what the child of cloneVM reads; it lives on the heap,
// shared, until the parent's release.
type vmChild struct {
	prelude, main       *Forkable
	syncR, syncW, errFd uintptr
	sigDefault          [4]uintptr // a struct sigaction for SIG_DFL
	sigEmpty            uint64     // an empty signal set
}

// forkVM is Fork with a shared address space.
func forkVM(flags uintptr, prelude, main *Forkable, syncR, syncW, errFd int) (int, func(), uintptr) {
	stack, _, errno := rawSyscall6(sysMmap, 0, vmStackSize, protReadWrite, mapStack, ^uintptr(0), 0)
	if errno != 0 {
		return 0, nil, errno
	}
	c := &vmChild{prelude: prelude, main: main, syncR: uintptr(syncR), syncW: uintptr(syncW), errFd: uintptr(errFd)}
	// Signals stay blocked in the child until it has reset their
	// handlers: the runtime's handlers must never run in it.
	runtimeBeforeFork()
	pid, errno := cloneVM(flags|sigchld|cloneVMFlag, stack+vmStackSize, c)
	runtimeAfterFork()
	release := func() {
		rawSyscall6(sysMunmap, stack, vmStackSize, 0, 0, 0, 0)
		c.prelude, c.main = nil, nil
	}
	if errno != 0 {
		release()
		return 0, nil, errno
	}
	return int(pid), release, 0
}

// vmChildMain is the child of cloneVM. Like everything it calls, it
// makes only raw system calls and never grows the stack or allocates:
// the memory it shares is the parent's, where a runtime call would
// corrupt the parent. It never returns.
//
//go:nosplit
//go:norace
//go:nocheckptr
func vmChildMain(c *vmChild) {
	if !waitForMaps(c.syncR, c.syncW) {
		rawSyscall6(sysExitGroup, 127, 0, 0, 0, 0, 0)
	}
	// Default dispositions for every signal (not SIGKILL and SIGSTOP,
	// which cannot change), then none blocked.
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig != 9 && sig != 19 {
			rawSyscall6(sysRtSigaction, sig, uintptr(unsafe.Pointer(&c.sigDefault)), 0, 8, 0, 0)
		}
	}
	rawSyscall6(sysRtSigmask, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&c.sigEmpty)), 0, 8, 0, 0)
	runChild(c.prelude, c.main, c.errFd)
}
