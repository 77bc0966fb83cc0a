//go:build linux && (!amd64 || race)

package initprog

// Elsewhere Fork forks (see clonevm_amd64.go). So it does in race
// builds: there a child sharing the memory crashed its parent now and
// then (the tests saw "sandbox spawner: EOF" in half the runs of
// go test -race since the child first shared it), for a reason not yet
// found. Normal builds have run many thousands without a crash.
const shareVM = false

func forkVM(flags uintptr, prelude, main *Forkable, syncR, syncW, errFd int) (int, func(), uintptr) {
	panic("initprog: forkVM without shareVM")
}
