package build

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nixLock takes Nix's lock on uid in dir the way Nix 2.8 does (a
// non-blocking flock on dir/<uid>, from its own open file), reporting
// whether it got it; unlock releases it.
func nixLock(t *testing.T, dir string, uid int) (ok bool, unlock func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(uid)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			t.Fatal(err)
		}
		return false, func() {}
	}
	return true, func() { f.Close() }
}

func TestUserPoolLocksLikeNix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "userpool")
	p := &userPool{dir: dir, users: []BuildUser{{UID: 7001, GID: 70}, {UID: 7002, GID: 70}}}
	ctx := context.Background()

	// A Nix build holds the first user: cairn takes the second.
	os.MkdirAll(dir, 0o755)
	ok, unlockNix := nixLock(t, dir, 7001)
	if !ok {
		t.Fatal("could not take a fresh lock")
	}
	u1, rel1, err := p.acquire(ctx)
	if err != nil || u1.UID != 7002 {
		t.Fatalf("acquire: %v %v, want uid 7002", u1, err)
	}
	// Concurrent builds share it; Nix cannot take it while any runs.
	u2, rel2, err := p.acquire(ctx)
	if err != nil || u2 != u1 {
		t.Fatalf("second acquire: %v %v, want %v", u2, err, u1)
	}
	rel1()
	rel1() // a second call is a no-op
	if ok, _ := nixLock(t, dir, 7002); ok {
		t.Fatal("Nix could take the user of a running build")
	}
	rel2()
	ok, unlock := nixLock(t, dir, 7002)
	if !ok {
		t.Fatal("the user stays locked after the last build")
	}

	// Both held by Nix: cairn waits, until ctx ends or a user is free.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, _, err := p.acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with every user taken: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var got BuildUser
	go func() {
		defer wg.Done()
		var rel func()
		got, rel, err = p.acquire(ctx)
		if err == nil {
			rel()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	unlockNix()
	wg.Wait()
	if err != nil || got.UID != 7001 {
		t.Fatalf("acquire after Nix released 7001: %v %v", got, err)
	}
	unlock()
}

// TestNixKillUserSparesBuilds reproduces issue 5: Nix, each time it
// takes a build user, kills every process of that uid (kill(-1,
// SIGKILL) as the user); a cairn builder running as that user was
// killed, "failed due to signal 9", unless cairn holds Nix's lock.
func TestNixKillUserSparesBuilds(t *testing.T) {
	needSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: needs root to build as another user and to kill as it")
	}
	const uid, gid = 61731, 61731 // a uid nothing else runs as
	e, pool := buildUserEnv(t, uid, gid)
	busybox := filepath.Join(e.st.RealPath(e.bb), "bin", "busybox")

	// Nix: as long as the build runs, take the user whenever it is free
	// and kill what runs as it.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	kills := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ok, unlock := nixLock(t, pool, uid)
			if !ok {
				continue
			}
			cmd := exec.Command(busybox, "kill", "-9", "-1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
			cmd.Run() // fails when there is nothing to kill
			kills++
			unlock()
		}
	}()
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		p := e.drv(drvSpec{name: "sleeper-" + strconv.Itoa(i), script: "sleep 0.3; echo > $out"})
		_, err = e.build(p, Options{})
	}
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("build with Nix taking the build user meanwhile: %v", err)
	}
	// Between builds, the user is free for Nix again.
	if ok, unlock := nixLock(t, pool, uid); !ok {
		t.Fatal("the build user stays locked after the builds")
	} else {
		unlock()
	}
	t.Logf("Nix took the user %d times between builds", kills)
}

// buildUserEnv is an env whose builds run as the build user uid:gid,
// with its lock in the pool directory it returns (as root; the test
// directories are opened up for that user).
func buildUserEnv(t *testing.T, uid, gid int) (*env, string) {
	t.Helper()
	pool := filepath.Join(t.TempDir(), "userpool")
	os.MkdirAll(pool, 0o755)
	tmp := t.TempDir()
	os.Chmod(filepath.Dir(tmp), 0o755)
	os.Chmod(tmp, 0o755)
	e := newEnv(t, Config{TmpDir: tmp, BuildUser: &BuildUser{UID: uid, GID: gid}, UserPoolDir: pool})
	os.Chmod(filepath.Dir(e.root), 0o755)
	os.Chmod(e.root, 0o755)
	return e, pool
}
