//go:build linux && !amd64

package initprog

// Elsewhere Fork forks (see clonevm_amd64.go).
const shareVM = false

func forkVM(flags uintptr, prelude, main *Forkable, syncR, syncW, errFd int) (int, func(), uintptr) {
	panic("initprog: forkVM without shareVM")
}
