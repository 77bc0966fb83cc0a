package build

import (
	"bytes"
	"compress/bzip2"
	"io"
	"os"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
)

// TestLogWriterReuse: a log written with a bzip2 writer taken back from
// an earlier build is the same file a fresh writer makes.
func TestLogWriterReuse(t *testing.T) {
	b := &Builder{cfg: Config{LogDir: t.TempDir()}}
	write := func(base, text string) []byte {
		t.Helper()
		p, err := storepath.ParseBase(base)
		if err != nil {
			t.Fatal(err)
		}
		r := &buildRun{}
		w, err := b.openLog(&Request{DrvPath: p}, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, text); err != nil {
			t.Fatal(err)
		}
		if err := w.(io.Closer).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write after close succeeded")
		}
		data, err := os.ReadFile(r.logFile)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(data)))
		if err != nil || string(got) != text {
			t.Fatalf("log %s reads back %q, %v; want %q", base, got, err, text)
		}
		return data
	}
	long := strings.Repeat("building the long one\n", 50000)
	first := write("00000000000000000000000000000000-a.drv", "hello\n")
	write("11111111111111111111111111111111-b.drv", long)
	again := write("22222222222222222222222222222222-c.drv", "hello\n")
	if !bytes.Equal(first, again) {
		t.Fatalf("the reused writer made %x, a fresh one %x", again, first)
	}
}
