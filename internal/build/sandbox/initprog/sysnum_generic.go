//go:build linux && (arm64 || riscv64 || loong64)

package initprog

// The generic system call table (include/uapi/asm-generic/unistd.h).
const (
	sysRead      = 63
	sysWrite     = 64
	sysExitGroup = 94
)
