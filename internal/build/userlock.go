package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"cairn/internal/fsutil"
)

// DefaultUserPoolDir is where Nix keeps its build-user locks
// (<nixStateDir>/userpool, the same for every store, chroot stores
// included).
const DefaultUserPoolDir = "/nix/var/nix/userpool"

// userPool hands out a build user to the Builder's sandboxed builds,
// holding Nix's lock on it while any of them runs.
//
// Nix takes a user by flock(2)ing <userpool>/<uid>, and, once it has it,
// kills every process of that uid (kill(-1, SIGKILL) as the user), before
// and after each build, to remove what earlier builds left behind. A
// cairn builder running as that user without the lock was killed by
// any Nix build that started meanwhile on the same machine: "failed due
// to signal 9". Holding the lock makes Nix pick another user, and makes
// cairn wait for (or skip) a user Nix is building as.
//
// The Builder's own concurrent builds share the user it holds (each
// sandbox has its own PID namespace, so they cannot see each other).
type userPool struct {
	dir   string
	users []BuildUser // candidates, in order

	mu    sync.Mutex
	held  *fsutil.LockedFile // the locked file of users[cur], or nil
	cur   int
	count int // builds using it
}

// acquire returns a build user whose Nix lock the Builder holds until
// release is called; with all of them locked by other processes, it
// waits for one, until ctx is done.
func (p *userPool) acquire(ctx context.Context) (BuildUser, func(), error) {
	for {
		p.mu.Lock()
		if p.held == nil {
			if err := p.lockFree(); err != nil {
				p.mu.Unlock()
				return BuildUser{}, nil, err
			}
		}
		if p.held != nil {
			p.count++
			u := p.users[p.cur]
			p.mu.Unlock()
			var once sync.Once
			return u, func() { once.Do(p.release) }, nil
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return BuildUser{}, nil, fmt.Errorf("wait for a free build user: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockFree locks the first candidate that no other process holds, if
// any. p.mu is held.
func (p *userPool) lockFree() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("lock build user: %w", err)
	}
	for i, u := range p.users {
		name := filepath.Join(p.dir, strconv.Itoa(u.UID))
		f, err := fsutil.TryOpenLocked(name, os.O_RDWR|os.O_CREATE, 0o600, fsutil.Exclusive)
		if errors.Is(err, fsutil.ErrWouldBlock) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lock build user: %w", err)
		}
		p.held, p.cur = f, i
		return nil
	}
	return nil
}

// release ends one build's use of the held user; the last one unlocks it.
func (p *userPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count--
	if p.count == 0 && p.held != nil {
		p.held.Close() // drops the flock
		p.held = nil
	}
}
