//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Skeletons makes and keeps sandbox root skeletons (the /proc, /dev and
// /etc skeleton and the mount points outside the caller's root entries)
// for sandboxes started with it, one per distinct shape, so that a build
// does not create and delete two dozen inodes on the host's disk (on ext4
// without a journal, allocating inodes soon after others were freed
// scans past every recently freed one, which made the per-build skeleton
// the largest cost of a trivial build).
//
// Sharing is safe: a skeleton is bind-mounted read-only in each sandbox's
// own mount namespace, and everything mounted on it (devices, /proc,
// /dev/pts, /dev/shm, the inputs, the build directory, the caller's root
// entries) is mounted in that namespace only; a skeleton's files belong
// to the caller (to nobody, inside, when cairn is root, as with Nix), and
// the read-only mount keeps even a build user that owns them (cairn not
// root) from changing them.
//
// A Skeletons is safe for concurrent use. Close removes the skeletons
// once no sandbox that uses them is running; later sandboxes make them
// again.
type Skeletons struct {
	parent string

	// mknod makes device nodes (unix.Mknod; tests refuse it).
	mknod func(path string, mode uint32, dev int) error

	mu      sync.Mutex
	dir     string              // holds the skeletons; made on first use
	nodes   bool                // try device nodes in new skeletons (see get)
	m       map[string]skeleton // shape -> skeleton
	n       int                 // skeletons made in dir
	active  int                 // sandboxes started and not yet waited for
	closing bool                // remove when active drops to 0
}

// A skeleton is a directory made by Skeletons.get.
type skeleton struct {
	dir   string
	nodes bool // its /dev holds device nodes, not mount points
}

// NewSkeletons returns a Skeletons that keeps its skeletons in a new
// directory under parent (made on first use).
func NewSkeletons(parent string) *Skeletons {
	return &Skeletons{parent: parent, mknod: unix.Mknod}
}

// Close removes the skeletons, at once or, if sandboxes that use them
// are running, when the last of them has been waited for.
func (k *Skeletons) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active > 0 {
		k.closing = true
		return nil
	}
	return k.removeLocked()
}

func (k *Skeletons) removeLocked() error {
	k.closing = false
	k.m = nil
	if k.dir == "" {
		return nil
	}
	dir := k.dir
	k.dir = ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove sandbox skeletons: %w", err)
	}
	return nil
}

func (k *Skeletons) acquire() {
	k.mu.Lock()
	k.active++
	k.mu.Unlock()
}

func (k *Skeletons) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active--
	if k.active == 0 && k.closing {
		k.removeLocked()
	}
}

// get returns the skeleton for files and the mount points targets and
// top, owned as a sandbox root for hostGID, making it if needed, and
// whether its /dev holds the devices themselves. It does when cairn is
// root and the skeletons' file system allows devices: the nodes are made
// once, like the host's (same numbers, modes and owners), and a sandbox
// then needs no bind mount and read-only remount for each device (a
// dozen mount operations, each serialised across the machine by the
// kernel's namespace lock). A node grants nothing its host twin does not:
// the same device, the same permissions, and the read-only skeleton
// keeps a build from changing them. If a node cannot be made (no
// CAP_MKNOD, a device cgroup), this skeleton and the later ones have
// mount points instead.
func (k *Skeletons) get(hostGID int, files map[string][]byte, targets, top []initMount) (string, bool, error) {
	var key strings.Builder
	key.WriteString(strconv.Itoa(hostGID))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&key, "\x00f%s\x00%d:%s", name, len(files[name]), files[name])
	}
	for _, set := range [][]initMount{targets, top} {
		ms := slices.Clone(set)
		slices.SortFunc(ms, func(a, b initMount) int { return strings.Compare(a.Target, b.Target) })
		for _, m := range ms {
			fmt.Fprintf(&key, "\x00m%s\x00%v", m.Target, m.Dir)
		}
		key.WriteString("\x00|")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk, ok := k.m[key.String()]; ok {
		return sk.dir, sk.nodes, nil
	}
	if k.dir == "" {
		removeStale(k.parent)
		dir, err := os.MkdirTemp(k.parent, "cairn-sandbox-"+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return "", false, fmt.Errorf("make sandbox skeleton: %w", err)
		}
		var st unix.Statfs_t
		k.nodes = os.Geteuid() == 0 && unix.Statfs(dir, &st) == nil && st.Flags&unix.ST_NODEV == 0
		k.dir, k.n, k.m = dir, 0, map[string]skeleton{}
	}
	sk, err := k.make(hostGID, files, targets, top, k.nodes)
	if err != nil && k.nodes {
		if sk, err = k.make(hostGID, files, targets, top, false); err == nil {
			k.nodes = false
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("make sandbox skeleton: %w", err)
	}
	k.m[key.String()] = sk
	return sk.dir, sk.nodes, nil
}

// make makes a new skeleton in k.dir. k.mu is held.
func (k *Skeletons) make(hostGID int, files map[string][]byte, targets, top []initMount, nodes bool) (skeleton, error) {
	p := filepath.Join(k.dir, strconv.Itoa(k.n))
	k.n++
	if err := os.Mkdir(p, 0o750); err != nil {
		return skeleton{}, err
	}
	mknod := k.mknod
	if !nodes {
		mknod = nil
	}
	err := ownRoot(p, hostGID)
	if err == nil {
		err = makeSkeleton(p, files, targets, top, mknod)
	}
	if err != nil {
		os.RemoveAll(p)
		return skeleton{}, err
	}
	return skeleton{p, nodes}, nil
}

// removeStale removes the skeleton directories in parent of processes
// that no longer exist (a cairn killed before Close). A directory whose
// pid has been reused stays until that process is gone too.
func removeStale(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "cairn-sandbox-")
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}
