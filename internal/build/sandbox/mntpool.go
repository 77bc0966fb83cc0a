//go:build linux

package sandbox

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// A mntPool keeps mount namespaces in which a root spawner's sandboxes
// stack their roots, so that a sandbox makes no mount namespace of its
// own and frees none.
//
// Freeing a mount namespace, and detaching the old root after
// pivot_root, each wait for an expedited RCU grace period, which the
// kernel runs one at a time for the whole machine and which interrupts
// every other CPU. Those two waits are why a sandbox's kernel work
// scaled only 1.5x from one CPU to two (bench/nsscale.sh: "sandbox");
// stacked in pooled namespaces it scales 1.8-1.9x ("sandbox-stack").
//
// A pooled namespace is a private copy of the spawner's. The init is
// cloned into it (no CLONE_NEWNS), with the host's root as its root (the
// namespace's bottom), makes its mounts under the sandbox's root
// directory as real root, moves that mount onto "/", where it covers
// the roots of the sandboxes before it, and chroots into it. Its root is
// then the top of the namespace's root stack, which is the root the
// kernel reports for the namespace, so the build is not chrooted in the
// kernel's sense and may make user namespaces of its own, as in Nix.
// Only then does it make its user namespace (it could not mount in the
// pooled namespace from inside one, and a chrooted process may not make
// one) and ask the spawner for its id maps.
//
// What a build sees: /proc/self/mountinfo lists only the mounts under
// its root. The roots below it are out of reach: the build has no
// capabilities over the namespace (it belongs to the spawner's user
// namespace), and in a namespace of its own they are locked under the
// top one (copied into a less privileged user namespace, mounts cannot
// be taken off what they cover). Builds cannot mount in the pooled
// namespace, so a build's mounts are exactly what its init made.
//
// A pooled namespace is a copy of the spawner's made when it was made:
// what is mounted on the host later reaches sandboxes once namespaces
// made before it are discarded, after 32 sandboxes at most.
//
// A namespace is used by one sandbox at a time and discarded after
// maxMntUses sandboxes, after a sandbox that did not exit 0 (its init
// may have stopped half-way through its mounts), and after one whose
// /dev/shm is not empty (a tmpfs whose files would otherwise stay in
// memory until the namespace goes). Discarding one costs one grace
// period, in a thread that is not on any build's path.
type mntPool struct {
	mu   sync.Mutex
	free []*mntNS
	// home is where threads return to (opened by the first enter,
	// closed by close).
	home *mntHome
	// askedForMaps, if set (by tests), runs with the pid of an init that
	// has asked for its id maps, before they are written.
	askedForMaps func(pid int)
}

// A mntHome is the spawner's mount namespace, root and working
// directory, open.
type mntHome struct{ ns, root, cwd int }

// openHome opens the calling thread's mount namespace, root and working
// directory.
func openHome() (*mntHome, error) {
	h := &mntHome{ns: -1, root: -1, cwd: -1}
	var err error
	for _, f := range []struct {
		fd   *int
		name string
		flag int
	}{{&h.ns, "/proc/thread-self/ns/mnt", unix.O_RDONLY}, {&h.root, "/", unix.O_PATH | unix.O_DIRECTORY}, {&h.cwd, ".", unix.O_PATH | unix.O_DIRECTORY}} {
		if *f.fd, err = unix.Open(f.name, f.flag|unix.O_CLOEXEC, 0); err != nil {
			h.close()
			return nil, fmt.Errorf("open %s: %w", f.name, err)
		}
	}
	return h, nil
}

func (h *mntHome) close() {
	for _, fd := range []int{h.ns, h.root, h.cwd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// A mntNS is a pooled mount namespace: an open descriptor for it and for
// its bottom root (the spawner's root, copied), and how many sandboxes
// it has held.
type mntNS struct {
	fd, bottom   int
	uses         int
	askedForMaps func(pid int) // the pool's
	home         *mntHome      // the pool's
}

// maxMntUses is how many sandboxes a namespace holds before it is
// discarded: each leaves its mounts (about fifteen) stacked in it.
const maxMntUses = 32

// maxFreeMnts is how many idle namespaces a pool keeps.
const maxFreeMnts = 16

func (ns *mntNS) close() {
	unix.Close(ns.fd)
	unix.Close(ns.bottom)
}

// enter puts the calling thread, which must be locked to its goroutine
// and run nothing else until it leaves (or ends with the goroutine), in
// a pooled namespace with the bottom root as its root and working directory, and
// returns that namespace: an idle one, or a new private copy of the
// thread's.
func (p *mntPool) enter() (*mntNS, error) {
	p.mu.Lock()
	if p.home == nil {
		h, err := openHome()
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("enter mount namespace: %w", err)
		}
		p.home = h
	}
	home := p.home
	var ns *mntNS
	if n := len(p.free); n > 0 {
		ns = p.free[n-1]
		p.free = p.free[:n-1]
		ns.home = home
	}
	p.mu.Unlock()
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		if ns != nil {
			ns.close()
		}
		return nil, fmt.Errorf("unshare file system attributes: %w", err)
	}
	if ns == nil {
		var err error
		if ns, err = newMntNS(); err != nil {
			return nil, err
		}
		ns.askedForMaps, ns.home = p.askedForMaps, home
		return ns, nil
	}
	if err := unix.Setns(ns.fd, unix.CLONE_NEWNS); err != nil {
		ns.close()
		return nil, fmt.Errorf("enter mount namespace: %w", err)
	}
	if err := unix.Fchdir(ns.bottom); err != nil {
		ns.close()
		return nil, fmt.Errorf("enter mount namespace: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		ns.close()
		return nil, fmt.Errorf("enter mount namespace: %w", err)
	}
	return ns, nil
}

// leave returns the calling thread from the pooled namespace it entered
// with ns (which may be closed since) to the spawner's, with the
// spawner's root and working directory, so that it may run any
// goroutine again, instead of ending and making the runtime start
// another thread for the next sandbox (a clone, and a wake-up that the
// kernel tends to queue behind a busy CPU). The thread keeps file system
// attributes of its own, copies of the others': cairn changes neither
// its working directory nor its umask once it runs.
func (ns *mntNS) leave() error {
	h := ns.home
	if err := unix.Setns(h.ns, unix.CLONE_NEWNS); err != nil {
		return err
	}
	if err := unix.Fchdir(h.root); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return unix.Fchdir(h.cwd)
}

// newMntNS moves the calling thread (with its own file system
// attributes) to a new private copy of its mount namespace.
func newMntNS() (*mntNS, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("new mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("new mount namespace: make / private: %w", err)
	}
	fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("new mount namespace: %w", err)
	}
	bottom, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("new mount namespace: %w", err)
	}
	return &mntNS{fd: fd, bottom: bottom}, nil
}

// put takes ns back from the thread that entered it, once every process
// of its sandbox is gone and status is the init's wait status: into the
// pool if the sandbox ended well and left nothing behind, closed
// otherwise (the namespace goes with the last thread in it).
func (p *mntPool) put(ns *mntNS, status unix.WaitStatus) {
	ns.uses++
	keep := status.Exited() && status.ExitStatus() == 0 && ns.uses < maxMntUses && shmEmpty(ns)
	p.mu.Lock()
	if keep && len(p.free) < maxFreeMnts {
		p.free = append(p.free, ns)
		ns = nil
	}
	p.mu.Unlock()
	if ns != nil {
		ns.close()
	}
}

// shmEmpty says whether the /dev/shm of the sandbox on top of ns holds
// nothing. It moves the calling thread to that sandbox's root.
func shmEmpty(ns *mntNS) bool {
	// Entering a mount namespace starts at the top of its root stack.
	if unix.Setns(ns.fd, unix.CLONE_NEWNS) != nil {
		return false
	}
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return false
	}
	return st.Blocks == st.Bfree && st.Files-st.Ffree <= 1
}

// close discards the idle namespaces (the caller has reaped every
// sandbox first, so all of them are idle).
func (p *mntPool) close() {
	p.mu.Lock()
	free, home := p.free, p.home
	p.free, p.home = nil, nil
	p.mu.Unlock()
	for _, ns := range free {
		ns.close()
	}
	if home != nil {
		home.close()
	}
}
