//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDirectWaitKillsLeftovers checks that Wait kills what a program run
// by StartDirect leaves running in its session, and that Kill after Wait
// sends nothing (the leader's pid may already name another session).
func TestDirectWaitKillsLeftovers(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	spec := &Spec{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", "sleep 100 </dev/null >/dev/null 2>&1 & echo $! > " + pidFile},
		Dir:  t.TempDir(),
	}
	p, err := StartDirect(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("wait: %v", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The killed sleep is a zombie of init (or gone) shortly after.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("leftover process %d still running after Wait", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("kill after wait: %v", err)
	}
}
