//go:build linux && !amd64 && !arm64 && !riscv64 && !loong64

package initprog

import "syscall"

// Elsewhere the numbers come from syscall; importing it only means the
// init starts later.
const (
	sysRead      = syscall.SYS_READ
	sysWrite     = syscall.SYS_WRITE
	sysExitGroup = syscall.SYS_EXIT_GROUP
)
