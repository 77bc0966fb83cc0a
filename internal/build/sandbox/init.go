//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// The init starts from this package's initialisation, before the
// packages that do not depend on it (the evaluator, SQLite, the
// compressors...) are initialised: a build does not pay for them, about
// a millisecond of CPU per build for cairn's binary.
func init() { MaybeRunInit(os.Args) }

// MaybeRunInit runs the sandbox init and exits if args (os.Args) say
// that this process is one (argv[0] is InitArg0); otherwise it returns at
// once. Call it first thing in main, before anything starts goroutines
// that matter or touches the terminal.
func MaybeRunInit(args []string) {
	if len(args) > 0 && args[0] == spawnerArg0 {
		runSpawner()
	}
	if len(args) == 0 || args[0] != InitArg0 {
		return
	}
	runtime.LockOSThread()
	errPipe := os.NewFile(4, "errpipe")
	unix.CloseOnExec(4)
	fail := func(err error) {
		fmt.Fprintf(errPipe, "%v", err)
		os.Exit(127)
	}
	var s initSpec
	if err := json.NewDecoder(os.NewFile(3, "spec")).Decode(&s); err != nil {
		fail(fmt.Errorf("read spec: %w", err))
	}
	unix.Close(3)
	if err := setup(&s); err != nil {
		fail(err)
	}
	if s.Probe {
		errPipe.Close()
		os.Exit(0)
	}
	err := unix.Exec(s.Path, s.Args, s.Env)
	fail(fmt.Errorf("executing '%s': %w", s.Path, err))
}

// unavailableError marks set-up failures caused by what the host allows.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func setup(s *initSpec) error {
	root := s.Root
	// Nothing we mount may leak back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &unavailableError{fmt.Errorf("make / private: %w", err)}
	}
	if s.Skeleton == "" {
		// pivot_root needs the new root to be a mount point.
		if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return &unavailableError{fmt.Errorf("bind mount %s: %w", root, err)}
		}
	} else if err := mountSkeleton(root, s.Skeleton); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if err := bind(m.Source, filepath.Join(root, m.Target), m.ReadOnly); err != nil {
			return err
		}
	}
	for _, d := range devices {
		// Read-only: the devices stay writable, but their host inodes'
		// modes and owners cannot be changed from inside.
		if err := bind("/dev/"+d, filepath.Join(root, "dev", d), true); err != nil {
			if d == "tty" && errors.Is(err, unix.ENXIO) {
				continue
			}
			return err
		}
	}
	if err := unix.Mount("none", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		return &unavailableError{fmt.Errorf("mount /proc: %w", err)}
	}
	if err := unix.Mount("none", filepath.Join(root, "dev/shm"), "tmpfs", 0, "size="+s.ShmSize); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if err := unix.Mount("none", filepath.Join(root, "dev/pts"), "devpts", 0, "newinstance,mode=0620,ptmxmode=0666"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
		return fmt.Errorf("set domain name: %w", err)
	}
	if !s.Network {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// detaching it leaves only the new root.
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &unavailableError{fmt.Errorf("pivot_root %s: %w", root, err)}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if s.Skeleton != "" {
		// The skeleton is shared with other sandboxes: nothing may
		// change it (its owner, when cairn is not root, is the build
		// user).
		if err := remountReadOnly("/"); err != nil {
			return err
		}
	}
	if err := unix.Chdir(s.Dir); err != nil {
		return fmt.Errorf("changing into '%s': %w", s.Dir, err)
	}
	if err := setPersonality(s.Linux32); err != nil {
		return err
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("disable core dumps: %w", err)
	}
	// Like Nix, the init sets everything up as the namespace's creator
	// (files it creates, such as the /dev/shm root, belong to the
	// caller) and only then becomes the build user.
	//
	// Only this thread changes its ids (raw setresgid/setresuid, not
	// syscall.Setgid's stop-the-world over all threads, which spun for
	// milliseconds per build on a loaded machine): it is locked, and it
	// is the thread that execs the program, which then has one thread
	// with these ids; the runtime's other threads die with the exec.
	for _, c := range []struct {
		name string
		nr   uintptr
		id   int
	}{{"setgid", unix.SYS_SETRESGID, s.GID}, {"setuid", unix.SYS_SETRESUID, s.UID}} {
		if _, _, errno := unix.RawSyscall(c.nr, uintptr(c.id), uintptr(c.id), uintptr(c.id)); errno != 0 {
			return fmt.Errorf("%s: %w", c.name, errno)
		}
	}
	// Changing credentials cleared the parent-death signal that Start
	// asked for; the program must still die with cairn.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	if s.NoNewPrivs || s.Seccomp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if s.Seccomp {
		if err := installSeccomp(); err != nil {
			return &unavailableError{err}
		}
	}
	// The program runs with no capabilities at all.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	return nil
}

// mountSkeleton makes the shared skeleton the sandbox's root: it is
// bind-mounted over root, and root's own top-level entries (the store
// directory with the outputs, /tmp) are bound back onto their mount
// points in it through a handle opened before root is covered.
func mountSkeleton(root, skeleton string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read sandbox root: %w", err)
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(skeleton, root, "", unix.MS_BIND, ""); err != nil {
		return &unavailableError{fmt.Errorf("bind mount '%s' to '%s': %w", skeleton, root, err)}
	}
	via := fmt.Sprintf("/proc/self/fd/%d/", fd)
	for _, e := range entries {
		if err := bind(via+e.Name(), filepath.Join(root, e.Name()), false); err != nil {
			return err
		}
	}
	return nil
}

// bind bind-mounts src on dst, read-only if asked. A read-only remount
// must repeat the flags the kernel locked on the source mount (nosuid,
// nodev, noexec, atime) or it is refused inside a user namespace.
func bind(src, dst string, readOnly bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.EPERM) {
			return &unavailableError{fmt.Errorf("bind mount '%s' to '%s': %w", src, dst, err)}
		}
		return fmt.Errorf("bind mount '%s' to '%s': %w", src, dst, err)
	}
	if !readOnly {
		return nil
	}
	return remountReadOnly(dst)
}

// remountReadOnly makes the bind mount at dst read-only.
func remountReadOnly(dst string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dst, err)
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
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remount '%s' read-only: %w", dst, err)
	}
	return nil
}

// loopbackUp brings up "lo" in the new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_IP)
	if err != nil {
		return fmt.Errorf("cannot open IP socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("cannot set loopback interface flags: %w", err)
	}
	return nil
}

const (
	perLinux32       = 0x0008
	addrNoRandomize  = 0x0040000
	personalityQuery = 0xffffffff
)

// setPersonality selects PER_LINUX32 if asked and disables address space
// randomisation, as Nix does.
func setPersonality(linux32 bool) error {
	if linux32 {
		if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, perLinux32, 0, 0); errno != 0 {
			return fmt.Errorf("cannot set 32-bit personality: %w", errno)
		}
	}
	cur, _, errno := unix.Syscall(unix.SYS_PERSONALITY, personalityQuery, 0, 0)
	if errno == 0 {
		unix.Syscall(unix.SYS_PERSONALITY, cur|addrNoRandomize, 0, 0)
	}
	return nil
}
