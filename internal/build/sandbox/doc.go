// Package sandbox runs a program in a Linux sandbox the way Nix's
// builder does (src/libstore/build/local-derivation-goal.cc in Nix 2.8):
// new user, mount, PID, IPC and UTS namespaces, and a network namespace
// with only a loopback interface unless the caller keeps the host
// network; a root directory that contains only what the caller put or
// bind-mounted there, plus a private /proc, a minimal /dev (null, zero,
// full, random, urandom, tty, a private devpts with ptmx, a tmpfs
// /dev/shm, and the fd/stdin/stdout/stderr symlinks) and a /tmp
// directory; hostname "localhost" and domain name "(none)"; a seccomp
// filter that refuses setuid/setgid bits and extended attributes; and
// an unprivileged uid/gid inside (1000/100, Nix's nixbld) mapped to a
// chosen host uid/gid.
//
// # Re-exec
//
// Go cannot run code between fork and exec, so the sandbox init is the
// running binary itself: Start spawns /proc/self/exe with argv[0] set to
// InitArg0, in fresh namespaces (os/exec's SysProcAttr clone flags and id
// maps; the init keeps CAP_SYS_ADMIN and friends inside its user
// namespace as ambient capabilities). Start computes the set-up as a
// list of system calls (the mounts, pivot_root, hostname, loopback,
// seccomp filter, ids, dropping capabilities and the exec of the
// program) and sends it to the init on fd 3; the init, package initprog,
// runs it from its package initialisation, before any other package of
// the binary is initialised. The program becomes PID 1 of the sandbox:
// when it exits, every process left in the sandbox is killed and the
// mounts disappear with the namespace. A failing call comes back to
// Start over fd 4.
//
// The package's initialisation calls
//
//	sandbox.MaybeRunInit(os.Args)
//
// so a program that imports it runs the spawner (see Spawner) before its
// own initialisation (and main) when it is started as one; calling it
// again first thing in main (or TestMain) is harmless and makes it
// explicit. It returns at once unless the process is a spawner, in which
// case it never returns.
//
// # Sharing between sandboxes
//
// A caller that starts many sandboxes (a build.Builder) can pass a
// Skeletons, so that the root skeleton is made once per shape and
// bind-mounted read-only into each sandbox instead of being created on
// disk every time, and a Spawner, which forks the init without exec'ing
// anything (initprog.Fork: raw system calls only in the child), so no
// second Go runtime starts per sandbox. On amd64 the child shares the
// caller's memory (no page tables copied), and the Spawner clones it from
// the caller itself; elsewhere a real fork would copy the (large)
// caller's page tables, so a small helper process forks the inits (as
// root in a mount namespace of its own without the mounts under /sys).
// As root, a skeleton holds the devices as nodes (no mount per device);
// the spawner passes an idle network namespace on to the next sandbox
// only if nothing of what a build did shows in it (netPool); and an
// in-process spawner makes no mount namespace per sandbox: each init
// stacks its root on those of earlier sandboxes in a pooled namespace
// and makes its user namespace after its mounts (mntPool), which spares
// the kernel's machine-wide RCU waits of making and freeing a namespace.
// Nothing writable is shared between sandboxes; see their docs for why
// they are safe.
//
// This package and initprog are the only ones of cairn that make raw
// system calls. It builds on Linux only.
package sandbox
