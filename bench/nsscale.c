/* nsscale: how well the kernel work of a build sandbox scales across CPUs,
 * with no build tool involved (see nsscale.sh and bench/README.md).
 *
 *   nsscale MODE N ROOT BUSYBOX BUILD
 *
 * starts N children one after the other, each of which does MODE's work and
 * exits, waits for each, and prints the seconds it took. MODE is one of:
 *
 *   fork      clone and exit: no namespace
 *   mntns     a new mount namespace, then exit
 *   allns     new user, mount, PID, IPC and UTS namespaces (id maps written
 *             by the parent, as cairn's spawner does), then exit
 *   sandbox   allns, then the mounts of a cairn sandbox for a trivial build
 *             (root, the store and /tmp back on it, the input read-only, the
 *             build directory, /proc, /dev/shm, /dev/pts), pivot_root into
 *             ROOT, detach the old root, and exec BUSYBOX as
 *             `sh -c 'echo > /build/out'` as uid 1000
 *   sandbox-net   sandbox with a new network namespace too (Nix 2.8 makes one
 *             per build; cairn reuses idle ones)
 *   sandbox-stack sandbox the way a root cairn makes it (internal/build/
 *             sandbox/mntpool.go): no mount namespace of its own, but one
 *             made by this process for every STACK sandboxes; the child,
 *             real root in it, mounts under ROOT/<i % STACK>, moves that
 *             onto / (on top of the roots before it) and chroots there,
 *             then makes its user namespace and waits for its id maps
 *             (written by the parent, as cairn's spawner does)
 *
 * ROOT must hold the directories bb, build, nix, tmp, proc, dev/pts and
 * dev/shm, and for sandbox-stack so must ROOT/0 ... ROOT/<STACK - 1>;
 * BUSYBOX is a directory holding busybox; BUILD is the build directory,
 * writable by host uid 30001. Needs root. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#define STACK 32

static const char *mode, *root, *bbdir, *builddir;
static int syncfd[2], mapfd[2], stacked;
static char sbroot[4096]; /* this sandbox's root: root, or root/<i % STACK> */
static char stack[1 << 16] __attribute__((aligned(16)));

#define CK(x) do { if ((x) < 0) { perror(#x); _exit(100); } } while (0)

static void in_root(char *buf, size_t n, const char *rel) { snprintf(buf, n, "%.2000s/%s", sbroot, rel); }

static int child(void *arg) {
	char c, p[4096];
	(void)arg;
	close(syncfd[1]);
	if (read(syncfd[0], &c, 1) < 0) _exit(101); /* EOF: the id maps are written */
	if (strncmp(mode, "sandbox", 7) != 0) _exit(0);
	if (!stacked) CK(mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL));
	CK(mount(sbroot, sbroot, NULL, MS_BIND, NULL));
	in_root(p, sizeof p, "nix");
	CK(mount(p, p, NULL, MS_BIND | MS_REC, NULL));
	in_root(p, sizeof p, "tmp");
	CK(mount(p, p, NULL, MS_BIND | MS_REC, NULL));
	in_root(p, sizeof p, "bb");
	CK(mount(bbdir, p, NULL, MS_BIND | MS_REC, NULL));
	CK(mount("", p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL));
	in_root(p, sizeof p, "build");
	CK(mount(builddir, p, NULL, MS_BIND | MS_REC, NULL));
	in_root(p, sizeof p, "proc");
	CK(mount("none", p, "proc", 0, NULL));
	in_root(p, sizeof p, "dev/shm");
	CK(mount("none", p, "tmpfs", 0, "size=50%"));
	in_root(p, sizeof p, "dev/pts");
	CK(mount("none", p, "devpts", 0, "newinstance,mode=0620,ptmxmode=0666"));
	CK(sethostname("localhost", 9));
	CK(chdir(sbroot));
	if (stacked) {
		CK(mount(".", "/", NULL, MS_MOVE, NULL));
		CK(chroot("."));
		CK(setgroups(0, NULL));
		CK(unshare(CLONE_NEWUSER));
		CK(write(mapfd[1], "m", 1));
		CK(read(mapfd[1], &c, 1));
		close(mapfd[1]);
	} else {
		CK(syscall(SYS_pivot_root, ".", "."));
		CK(umount2(".", MNT_DETACH));
		CK(chroot("."));
	}
	CK(chdir("/build"));
	CK(setresgid(100, 100, 100));
	CK(setresuid(1000, 1000, 1000));
	char *argv[] = {"sh", "-c", "echo > /build/out", NULL};
	char *envp[] = {"PATH=/path-not-set", NULL};
	execve("/bb/busybox", argv, envp);
	perror("execve");
	_exit(102);
}

static void write_file(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, s, strlen(s)) < 0) { perror(path); exit(1); }
	close(fd);
}

/* write_maps maps uid 1000 and gid 100 in pid's user namespace to the
 * build user 30001 and group 30000, setgroups denied. */
static void write_maps(pid_t pid) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
	write_file(path, "1000 30001 1\n");
	snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
	write_file(path, "deny");
	snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
	write_file(path, "100 30000 1\n");
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: nsscale fork|mntns|allns|sandbox|sandbox-net|sandbox-stack N ROOT BUSYBOX BUILD\n");
		return 2;
	}
	mode = argv[1], root = argv[3], bbdir = argv[4], builddir = argv[5];
	int n = atoi(argv[2]), flags = SIGCHLD, maps = 0;
	int hostns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (strcmp(mode, "mntns") == 0) flags |= CLONE_NEWNS;
	else if (strcmp(mode, "sandbox-stack") == 0) {
		flags |= CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
		stacked = 1;
	}
	else if (strcmp(mode, "fork") != 0) {
		flags |= CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
		maps = 1;
		if (strcmp(mode, "sandbox-net") == 0) flags |= CLONE_NEWNET;
		else if (strcmp(mode, "allns") != 0 && strcmp(mode, "sandbox") != 0) {
			fprintf(stderr, "nsscale: unknown mode %s\n", mode);
			return 2;
		}
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		snprintf(sbroot, sizeof sbroot, "%s", root);
		if (stacked) {
			/* A fresh copy of our namespace every STACK sandboxes; the old
			 * one goes with the last reference, here. */
			if (i % STACK == 0 && ((i > 0 && setns(hostns, CLONE_NEWNS) < 0) || unshare(CLONE_NEWNS) < 0 ||
					mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
				perror("new mount namespace");
				return 1;
			}
			snprintf(sbroot, sizeof sbroot, "%.2000s/%d", root, i % STACK);
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mapfd) < 0) { perror("socketpair"); return 1; }
		}
		if (pipe2(syncfd, O_CLOEXEC) < 0) { perror("pipe2"); return 1; }
		pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
		if (pid < 0) { perror("clone"); return 1; }
		close(syncfd[0]);
		if (maps) write_maps(pid);
		close(syncfd[1]);
		if (stacked) {
			char c;
			close(mapfd[1]);
			if (read(mapfd[0], &c, 1) == 1) {
				write_maps(pid);
				if (write(mapfd[0], "m", 1) < 0) { perror("write"); return 1; }
			}
			close(mapfd[0]);
		}
		int st;
		if (waitpid(pid, &st, 0) < 0) { perror("waitpid"); return 1; }
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "nsscale: child %d ended with status 0x%x\n", i, st);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.4f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
