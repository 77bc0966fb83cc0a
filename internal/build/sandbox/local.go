//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"sync"

	"cairn/internal/build/sandbox/initprog"
)

// localStarts starts a Spawner's inits from the calling process itself.
// It is used where initprog clones the init with shared memory
// (initprog.SharesVM): no page table is copied, so the size of the
// caller costs nothing, and there is no helper to send a request, wake
// up and wait for at every sandbox. On trivial builds that was a sixth
// of the time and of the machine's CPU. The inits start from the
// caller's mount namespace rather than the helper's trimmed one; each
// drops those mounts with its old root.
type localStarts struct {
	once    sync.Once
	nets    *netPool // as root: the pool of network namespaces
	mntOnce sync.Once
	mnts    *mntPool // as root: the pool of mount namespaces
	devNull *os.File
	err     error // why the above could not be opened

	mu      sync.Mutex
	running map[*localChild]bool
	closing bool // Close is killing what runs: kill what starts too
	reaped  sync.WaitGroup
}

// A localChild is an init started by localStarts, until it has exited.
type localChild struct {
	mu sync.Mutex
	c  child // nil once it has exited
}

func (lc *localChild) kill() {
	lc.mu.Lock()
	if lc.c != nil {
		lc.c.kill()
	}
	lc.mu.Unlock()
}

// launch starts an init for s that runs prog, as the helper does for a
// request.
func (ls *localStarts) launch(s *initSpec, prog *initprog.Program, errW, stdout, stderr *os.File) (*remote, error) {
	ls.once.Do(func() {
		if ls.devNull, ls.err = os.Open(os.DevNull); ls.err == nil && os.Geteuid() == 0 {
			ls.nets, ls.err = newNetPool()
		}
	})
	if s.PoolMnt && !ls.poolsMnts() {
		return nil, fmt.Errorf("start sandbox: no pool of mount namespaces here")
	}
	if ls.err != nil {
		return nil, fmt.Errorf("start sandbox: %w", ls.err)
	}
	req := spawnRequest{Op: "start", UID: s.UID, GID: s.GID, HostUID: s.HostUID, HostGID: s.HostGID,
		Network: s.Network, PoolNet: s.PoolNet, PoolMnt: s.PoolMnt, Stdout: stdout != nil, Stderr: stderr != nil}
	lc := &localChild{}
	replies := make(chan spawnReply, 2)
	ls.reaped.Add(1)
	go func() {
		defer ls.reaped.Done()
		supervise(func() (child, error) {
			return forkProgram(&req, prog, errW, stdout, stderr, ls.devNull, ls.nets, ls.mnts)
		}, func(c child, on bool) {
			lc.mu.Lock()
			lc.c = nil
			if on {
				lc.c = c
			}
			lc.mu.Unlock()
			ls.mu.Lock()
			if on {
				if ls.running == nil {
					ls.running = map[*localChild]bool{}
				}
				ls.running[lc] = true
				if ls.closing {
					c.kill()
				}
			} else {
				delete(ls.running, lc)
			}
			ls.mu.Unlock()
		}, func(r spawnReply) { replies <- r })
	}()
	// The init has its copies of the descriptors once it is cloned: the
	// caller may close its own when this returns.
	r := <-replies
	if r.Op != "started" {
		return nil, r.err()
	}
	return &remote{pid: r.Pid, replies: replies, killf: lc.kill}, nil
}

// poolsMnts says whether inits stack their roots in pooled mount
// namespaces; the pool is made the first time.
func (ls *localStarts) poolsMnts() bool {
	ls.mntOnce.Do(func() {
		if os.Geteuid() == 0 {
			ls.mnts = &mntPool{}
		}
	})
	return ls.mnts != nil
}

// close kills the inits that run, waits until they are reaped and
// discards the pooled mount namespaces.
func (ls *localStarts) close() {
	ls.mu.Lock()
	ls.closing = true
	for lc := range ls.running {
		lc.kill()
	}
	ls.mu.Unlock()
	ls.reaped.Wait()
	if ls.mnts != nil {
		ls.mnts.close()
	}
	ls.mu.Lock()
	ls.closing = false
	ls.mu.Unlock()
}
