package binarycache

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestXZDecompressor reads xz files through decoders: LZMA2-only ones go
// to internal/compress/xz (its reader reused through the pool), ones
// with a BCJ or delta filter fall back to ulikunitz/xz with the header
// bytes replayed; ulikunitz rejects those filters too, so what is seen
// is its error about the filter (not one about a missing header).
func TestXZDecompressor(t *testing.T) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xz command not found (apt-get install xz-utils)")
		}
		t.Skip("SKIP: xz command not found (apt-get install xz-utils); xz decompressor test not run")
	}
	data := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789\n", 20000))
	var ds decoders
	for _, args := range [][]string{nil, {"--x86", "--lzma2"}, {"--delta=dist=4", "--lzma2"}, nil, {"-C", "sha256"}} {
		cmd := exec.Command(xzPath, append([]string{"-c", "-T1"}, args...)...)
		cmd.Stdin = bytes.NewReader(data)
		c, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		r, closeFn, err := ds.decompressor("xz", bytes.NewReader(c))
		if args != nil && args[0] != "-C" {
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil || !strings.Contains(err.Error(), "filter") {
				t.Fatalf("xz %v: err = %v, want ulikunitz's error about the filter", args, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		got, err := io.ReadAll(r)
		closeFn()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("xz %v: err %v, output equal %v", args, err, bytes.Equal(got, data))
		}
		// a corrupt file is an error, not a fallback
		c[len(c)/2] ^= 0x55
		if r, closeFn, err := ds.decompressor("xz", bytes.NewReader(c)); err == nil {
			if _, err := io.ReadAll(r); err == nil {
				t.Fatalf("xz %v: corrupt file read without error", args)
			}
			closeFn()
		}
	}
}
