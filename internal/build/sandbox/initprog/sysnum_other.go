//go:build linux && !amd64 && !arm64 && !riscv64 && !loong64

package initprog

import "syscall"

// Elsewhere the numbers come from syscall; importing it only means the
// init starts later.
const (
	sysRead      = syscall.SYS_READ
	sysWrite     = syscall.SYS_WRITE
	sysClose     = syscall.SYS_CLOSE
	sysClone     = syscall.SYS_CLONE
	sysExitGroup = syscall.SYS_EXIT_GROUP
	sigchld      = uintptr(syscall.SIGCHLD)
)

// CanFork says whether Fork works here: not on the architectures whose
// clone arguments or signal numbers this package does not know.
const CanFork = false
