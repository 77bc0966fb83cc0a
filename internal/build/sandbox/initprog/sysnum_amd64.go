//go:build linux

package initprog

const (
	sysRead      = 0
	sysWrite     = 1
	sysClose     = 3
	sysClone     = 56
	sysExitGroup = 231
	sigchld      = 17
)

// CanFork says whether Fork works here.
const CanFork = true
