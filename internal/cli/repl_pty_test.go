//go:build linux

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (master, slave).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestReplTerminal drives `cairn repl` on a pseudo-terminal: tab
// completion of attributes and variables, history kept in a file.
func TestReplTerminal(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "d.nix"), []byte(`{ pkgs = { openssl = "ssl"; hello = "hi"; }; }`), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := strings.Contains(out.String(), s)
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("timed out waiting for %q; terminal shows:\n%q", s, out.String())
	}
	done := make(chan int, 1)
	go func() {
		f := &Factory{Stdin: slave, Stdout: slave, Stderr: slave, Dir: work, Prog: "cairn",
			Environ: []string{"NIX_REMOTE=dummy://", "XDG_DATA_HOME=" + work + "/xdg"}}
		done <- run(t.Context(), f, []string{"cairn", "repl", "d.nix"})
	}()
	waitFor("Added 1 variables.")
	for _, step := range []struct{ keys, want string }{
		{"pkgs.op\t", "pkgs.openssl"},
		{"\r", `"ssl"`},
		{"buil\t", "builtins"},
		{".toJS\t", "builtins.toJSON"},
		{" pkgs\r", `"{\"hello\":\"hi\",\"openssl\":\"ssl\"}"`},
		{"x = 41\rx + 1\r", "42"},
		{":q\r", ""},
	} {
		if _, err := master.WriteString(step.keys); err != nil {
			t.Fatal(err)
		}
		if step.want != "" {
			waitFor(step.want)
		}
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("repl did not exit after :q")
	}
	slave.Close()
	hist, err := os.ReadFile(filepath.Join(work, "xdg", "cairn", "repl-history"))
	if err != nil {
		t.Fatal(err)
	}
	want := "pkgs.openssl\nbuiltins.toJSON pkgs\nx = 41\nx + 1\n:q\n"
	if string(hist) != want {
		t.Errorf("history file:\n%q\nwant\n%q", hist, want)
	}
}
