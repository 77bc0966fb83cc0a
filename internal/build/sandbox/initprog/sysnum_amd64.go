//go:build linux

package initprog

const (
	sysRead      = 0
	sysWrite     = 1
	sysExitGroup = 231
)
