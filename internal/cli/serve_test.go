package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsnet/compress/bzip2"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// TestServeLogShareBuildLogs: cairn log and cairn serve's /log/<drv>
// read the same stored logs, bzip2-compressed (as Nix and our builder
// write them) or plain.
func TestServeLogShareBuildLogs(t *testing.T) {
	e := newStoreEnv(t)
	st, err := local.Open(t.Context(), local.Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	zdrv, _ := storepath.ParseBase("0123456789abcdfghijklmnpqrsvwxyz-hello-2.10.drv")
	pdrv, _ := storepath.ParseBase("1123456789abcdfghijklmnpqrsvwxyz-plain.drv")
	none, _ := storepath.ParseBase("2123456789abcdfghijklmnpqrsvwxyz-none.drv")
	var z bytes.Buffer
	zw, _ := bzip2.NewWriter(&z, nil)
	io.WriteString(zw, "compressed log\n")
	zw.Close()
	for p, data := range map[string][]byte{
		st.BuildLogPath(zdrv) + ".bz2": z.Bytes(),
		st.BuildLogPath(pdrv):          []byte("plain log\n"),
	} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	e.expect("compressed log\n", 0, "log", "/nix/store/"+zdrv.Base())
	e.expect("plain log\n", 0, "log", "/nix/store/"+pdrv.Base())
	if errs := e.expect("", 1, "log", "/nix/store/"+none.Base()); !strings.Contains(errs, "is not available") {
		t.Errorf("cairn log without a log: %s", errs)
	}

	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	f := &Factory{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Environ: []string{"HOME=" + e.work}, Dir: e.work, Prog: "cairn serve"}
	go func() {
		done <- newServeCmd(f, func(o *ServeOptions) error {
			o.Ready = func(a string) { addr <- a }
			return runServe(ctx, o)
		})([]string{"--listen", "127.0.0.1:0", "--store", e.root})
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	for base, want := range map[string]string{zdrv.Base(): "compressed log\n", pdrv.Base(): "plain log\n", none.Base(): ""} {
		resp, err := http.Get(url + "/log/" + base)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantCode := http.StatusOK
		if want == "" {
			wantCode = http.StatusNotFound
		} else if string(b) != want || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET /log/%s: %q (%s), want %q", base, b, resp.Header.Get("Content-Type"), want)
		}
		if resp.StatusCode != wantCode {
			t.Errorf("GET /log/%s: status %d, want %d", base, resp.StatusCode, wantCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}
