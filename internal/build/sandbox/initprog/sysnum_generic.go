//go:build linux && (arm64 || riscv64 || loong64)

package initprog

// The generic system call table (include/uapi/asm-generic/unistd.h).
const (
	sysRead      = 63
	sysWrite     = 64
	sysClose     = 57
	sysClone     = 220
	sysExitGroup = 94
	sigchld      = 17
)

// CanFork says whether Fork works here.
const CanFork = true
