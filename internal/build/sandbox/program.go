//go:build linux

package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"cairn/internal/build/sandbox/initprog"
)

// A program is the init's set-up as system calls (see package
// initprog), with what to say when each one fails.
type program struct {
	p    initprog.Program
	msgs []opMsg
}

// opMsg describes an op for error messages. A failure is an
// unavailableError (the host does not allow the sandbox) if unavail is
// set, or if its errno is unavailOn.
type opMsg struct {
	what      string
	unavail   bool
	unavailOn syscall.Errno
}

// call appends an op and returns its index.
func (pr *program) call(m opMsg, nr uintptr, args ...initprog.Arg) int {
	pr.p.Ops = append(pr.p.Ops, initprog.Op{Nr: uint64(nr), Args: args})
	pr.msgs = append(pr.msgs, m)
	return len(pr.p.Ops) - 1
}

// tolerate lets op i fail with errno (or anything, for AnyErrno) and
// then skip the next skip ops.
func (pr *program) tolerate(i int, errno uint64, skip int) {
	pr.p.Ops[i].OKErrno, pr.p.Ops[i].Skip = errno, skip
}

func str(s string) initprog.Arg  { return initprog.Str(s) }
func num(v uintptr) initprog.Arg { return initprog.Int(uint64(v)) }

func (pr *program) mount(m opMsg, src, dst, fstype string, flags uintptr, data string) int {
	return pr.call(m, unix.SYS_MOUNT, str(src), str(dst), str(fstype), num(flags), str(data))
}

// failure turns what the init reported into the error Start returns.
func (pr *program) failure(f initprog.Failure) error {
	errno := syscall.Errno(f.Errno)
	switch {
	case f.Op == initprog.BadProgram:
		return fmt.Errorf("read set-up program: %w", errno)
	case f.Op == initprog.PreludeFailed:
		return fmt.Errorf("set up the init's descriptors and session: %w", errno)
	case f.Op < 0 || f.Op >= len(pr.msgs):
		return errors.New("the set-up program ended without executing the builder")
	}
	m := pr.msgs[f.Op]
	err := fmt.Errorf("%s: %w", m.what, errno)
	if m.unavail || (m.unavailOn != 0 && errno == m.unavailOn) {
		return &unavailableError{err}
	}
	return err
}

// unavailableError marks set-up failures caused by what the host allows.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// buildProgram returns the set-up for s, as Nix's sandbox does it
// (initialiseChild in local-derivation-goal.cc): from inside the new
// namespaces, as their creator, make / private, mount the root (the
// shared skeleton with the root's own entries bound back on it), the
// inputs, devices, /proc, /dev/shm and /dev/pts; set the host and domain
// names; bring up "lo"; pivot_root into the root; then become the build
// user, keep the parent-death signal, set NO_NEW_PRIVS and the seccomp
// filter, drop all capabilities and exec the program.
//
// What the init could only learn by looking (which of the root's
// entries exist, the flags a read-only remount must repeat) is looked
// up here: the init's mount namespace is a copy of the caller's.
func buildProgram(s *initSpec) (*program, error) {
	pr := &program{}
	root := s.Root
	// Only stdin, stdout and stderr reach the program, as Nix's
	// closeMostFDs: descriptors cairn inherited without close-on-exec
	// would otherwise leak into every build. fd 4 reports failures,
	// and closes with the exec.
	cr := pr.call(opMsg{what: "mark descriptors close-on-exec"}, unix.SYS_CLOSE_RANGE, num(3), num(uintptr(^uint32(0))), num(unix.CLOSE_RANGE_CLOEXEC))
	pr.tolerate(cr, initprog.AnyErrno, 0) // before Linux 5.11: the fcntl below still covers fd 4
	pr.call(opMsg{what: "set close-on-exec on the error pipe"}, unix.SYS_FCNTL, num(4), num(unix.F_SETFD), num(unix.FD_CLOEXEC))
	pr.call(opMsg{what: "close the program pipe"}, unix.SYS_CLOSE, num(3))
	// Nothing we mount may leak back to the host (a pooled namespace is
	// private already).
	if !s.PoolMnt {
		pr.mount(opMsg{what: "make / private", unavail: true}, "", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
	if s.Skeleton == "" {
		// pivot_root needs the new root to be a mount point.
		pr.mount(opMsg{what: "bind mount " + root, unavail: true}, root, root, "", unix.MS_BIND|unix.MS_REC, "")
	} else if err := pr.mountSkeleton(root, s.Skeleton); err != nil {
		return nil, err
	}
	for _, m := range s.Mounts {
		if err := pr.bind(m.Source, filepath.Join(root, m.Target), m.ReadOnly); err != nil {
			return nil, err
		}
	}
	for _, d := range devices {
		if s.DevNodes {
			break // in the skeleton already
		}
		// Read-only: the devices stay writable, but their host inodes'
		// modes and owners cannot be changed from inside.
		first := len(pr.p.Ops)
		if err := pr.bind("/dev/"+d, filepath.Join(root, "dev", d), true); err != nil {
			return nil, err
		}
		if d == "tty" {
			// No tty on the host: the sandbox has none either.
			pr.tolerate(first, uint64(unix.ENXIO), len(pr.p.Ops)-first-1)
		}
	}
	pr.mount(opMsg{what: "mount /proc", unavail: true}, "none", filepath.Join(root, "proc"), "proc", 0, "")
	pr.mount(opMsg{what: "mount /dev/shm"}, "none", filepath.Join(root, "dev/shm"), "tmpfs", 0, "size="+s.ShmSize)
	pr.mount(opMsg{what: "mount /dev/pts"}, "none", filepath.Join(root, "dev/pts"), "devpts", 0, "newinstance,mode=0620,ptmxmode=0666")
	pr.call(opMsg{what: "set hostname"}, unix.SYS_SETHOSTNAME, str(s.Hostname), num(uintptr(len(s.Hostname))))
	pr.call(opMsg{what: "set domain name"}, unix.SYS_SETDOMAINNAME, str(s.Domainname), num(uintptr(len(s.Domainname))))
	if !s.Network && !s.PoolNet {
		// Bring up "lo" in the new network namespace (a pooled one has
		// it up already).
		sock := pr.call(opMsg{what: "cannot open IP socket"}, unix.SYS_SOCKET,
			num(unix.AF_INET), num(unix.SOCK_DGRAM|unix.SOCK_CLOEXEC), num(unix.IPPROTO_IP))
		ifr := make([]byte, unix.IFNAMSIZ+24) // struct ifreq
		copy(ifr, "lo")
		binary.NativeEndian.PutUint16(ifr[unix.IFNAMSIZ:], unix.IFF_UP|unix.IFF_LOOPBACK|unix.IFF_RUNNING)
		pr.call(opMsg{what: "cannot set loopback interface flags"}, unix.SYS_IOCTL,
			initprog.Result(sock, 0), num(unix.SIOCSIFFLAGS), initprog.Blob(ifr))
		pr.call(opMsg{what: "close IP socket"}, unix.SYS_CLOSE, initprog.Result(sock, 0))
	}
	pr.call(opMsg{what: "chdir " + root}, unix.SYS_CHDIR, str(root))
	if s.PoolMnt {
		// The root goes on top of the namespace's root stack (see
		// mntPool): the init's "/" is the stack's bottom, and a mount
		// on a covered directory goes on top.
		pr.mount(opMsg{what: "move " + root + " onto /"}, ".", "/", "", unix.MS_MOVE, "")
	} else {
		// pivot_root(".", ".") stacks the old root on top of the new
		// one; detaching it leaves only the new root.
		pr.call(opMsg{what: "pivot_root " + root, unavail: true}, unix.SYS_PIVOT_ROOT, str("."), str("."))
		pr.call(opMsg{what: "detach old root"}, unix.SYS_UMOUNT2, str("."), num(unix.MNT_DETACH))
	}
	pr.call(opMsg{what: "chroot"}, unix.SYS_CHROOT, str("."))
	if s.Skeleton != "" {
		// The skeleton is shared with other sandboxes: nothing may
		// change it (its owner, when cairn is not root, is the build
		// user). "/" is now its bind mount.
		if err := pr.remountReadOnly(s.Skeleton, "/"); err != nil {
			return nil, err
		}
	}
	pr.call(opMsg{what: fmt.Sprintf("changing into '%s'", s.Dir)}, unix.SYS_CHDIR, str(s.Dir))
	// PER_LINUX32 if asked, and no address space randomisation, as Nix.
	if s.Linux32 {
		pr.call(opMsg{what: "cannot set 32-bit personality"}, unix.SYS_PERSONALITY, num(perLinux32))
	}
	q := pr.call(opMsg{what: "query personality"}, unix.SYS_PERSONALITY, num(personalityQuery))
	pr.tolerate(q, initprog.AnyErrno, 1)
	set := pr.call(opMsg{what: "set personality"}, unix.SYS_PERSONALITY, initprog.Result(q, addrNoRandomize))
	pr.tolerate(set, initprog.AnyErrno, 0)
	pr.call(opMsg{what: "disable core dumps"}, unix.SYS_PRLIMIT64, num(0), num(unix.RLIMIT_CORE),
		initprog.Blob(make([]byte, 16)), num(0))
	// Like Nix, the init sets everything up as the namespace's creator
	// (files it creates, such as the /dev/shm root, belong to the
	// caller) and only then becomes the build user.
	if s.PoolMnt {
		pr.userNamespace()
	}
	pr.call(opMsg{what: "setgid"}, unix.SYS_SETRESGID, num(uintptr(s.GID)), num(uintptr(s.GID)), num(uintptr(s.GID)))
	pr.call(opMsg{what: "setuid"}, unix.SYS_SETRESUID, num(uintptr(s.UID)), num(uintptr(s.UID)), num(uintptr(s.UID)))
	// Changing credentials cleared the parent-death signal that Start
	// asked for; the program must still die with cairn.
	pr.call(opMsg{what: "set parent-death signal"}, unix.SYS_PRCTL, num(unix.PR_SET_PDEATHSIG), num(uintptr(unix.SIGKILL)))
	if s.NoNewPrivs || s.Seccomp {
		pr.call(opMsg{what: "set no_new_privs"}, unix.SYS_PRCTL, num(unix.PR_SET_NO_NEW_PRIVS), num(1), num(0), num(0), num(0))
	}
	if s.Seccomp {
		ts, err := tables()
		if err != nil {
			return nil, &unavailableError{err}
		}
		insns := make([]byte, 0, 256*8)
		for _, f := range filter(ts) {
			insns = binary.NativeEndian.AppendUint16(insns, f.Code)
			insns = append(insns, f.Jt, f.Jf)
			insns = binary.NativeEndian.AppendUint32(insns, f.K)
		}
		// TSYNC: the init's runtime has other threads (they die with
		// the exec, but the filter must hold for every thread).
		pr.call(opMsg{what: "unable to load seccomp BPF program", unavail: true}, unix.SYS_SECCOMP,
			num(unix.SECCOMP_SET_MODE_FILTER), num(unix.SECCOMP_FILTER_FLAG_TSYNC), initprog.Filter(insns))
	}
	// The program runs with no capabilities at all.
	pr.call(opMsg{what: "drop capabilities"}, unix.SYS_PRCTL, num(unix.PR_CAP_AMBIENT), num(unix.PR_CAP_AMBIENT_CLEAR_ALL), num(0), num(0), num(0))
	if s.Probe {
		pr.call(opMsg{what: "exit"}, unix.SYS_EXIT_GROUP, num(0))
		return pr, nil
	}
	pr.call(opMsg{what: fmt.Sprintf("executing '%s'", s.Path)}, unix.SYS_EXECVE,
		str(s.Path), initprog.Strs(s.Args), initprog.Strs(s.Env))
	return pr, nil
}

// userNamespace makes the init, cloned into a pooled mount namespace as
// real root, enter a user namespace of its own, as a clone with
// CLONE_NEWUSER would have: it drops the supplementary groups (as Nix
// does before it makes the namespace), makes the namespace and asks the
// spawner, over fd mapFd, to write its id maps. A process cannot map
// other ids than its own from inside, and its own only through
// /proc/self, which the shared memory of the inits makes unreliable
// (dumpability belongs to the memory).
func (pr *program) userNamespace() {
	pr.call(opMsg{what: "drop supplementary groups"}, unix.SYS_SETGROUPS, num(0), num(0))
	pr.call(opMsg{what: "create user namespace", unavail: true}, unix.SYS_UNSHARE, num(unix.CLONE_NEWUSER))
	pr.call(opMsg{what: "ask for id maps"}, unix.SYS_WRITE, num(mapFd), str("m"), num(1))
	pr.call(opMsg{what: "wait for id maps"}, unix.SYS_READ, num(mapFd), initprog.Blob([]byte{0}), num(1))
	pr.call(opMsg{what: "close the id map socket"}, unix.SYS_CLOSE, num(mapFd))
}

// mapFd is where an init in a pooled mount namespace asks for its id
// maps (see forkProgram).
const mapFd = 5

// mountSkeleton makes the shared skeleton the sandbox's root: it is
// bind-mounted over root, and root's own top-level entries (the store
// directory with the outputs, /tmp) are bound back onto their mount
// points in it, reached through the working directory, which stays in
// the covered directory.
func (pr *program) mountSkeleton(root, skeleton string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read sandbox root: %w", err)
	}
	pr.call(opMsg{what: "chdir " + root}, unix.SYS_CHDIR, str(root))
	pr.mount(opMsg{what: fmt.Sprintf("bind mount '%s' to '%s'", skeleton, root), unavail: true},
		skeleton, root, "", unix.MS_BIND, "")
	for _, e := range entries {
		if err := pr.bind("./"+e.Name(), filepath.Join(root, e.Name()), false); err != nil {
			return err
		}
	}
	return nil
}

// bind bind-mounts src on dst, read-only if asked.
func (pr *program) bind(src, dst string, readOnly bool) error {
	pr.mount(opMsg{what: fmt.Sprintf("bind mount '%s' to '%s'", src, dst), unavailOn: unix.EPERM},
		src, dst, "", unix.MS_BIND|unix.MS_REC, "")
	if !readOnly {
		return nil
	}
	return pr.remountReadOnly(src, dst)
}

// remountReadOnly makes the bind mount at dst, of src, read-only. The
// remount must repeat the flags the kernel locked on the source mount
// (nosuid, nodev, noexec, atime) or it is refused inside a user
// namespace; a bind mount has its source mount's flags.
func (pr *program) remountReadOnly(src, dst string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(src, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", src, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range [][2]uintptr{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f[0] != 0 {
			flags |= f[1]
		}
	}
	pr.mount(opMsg{what: fmt.Sprintf("remount '%s' read-only", dst)}, "", dst, "", flags, "")
	return nil
}

const (
	perLinux32       = 0x0008
	addrNoRandomize  = 0x0040000
	personalityQuery = 0xffffffff
)
