package nar

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchNAR is a NAR of 1000 small files and one 4 MiB file.
func benchNAR(b *testing.B) []byte {
	var buf bytes.Buffer
	nw := NewWriter(&buf)
	nw.WriteHeader(&Header{Path: "/", Type: TypeDirectory})
	nw.WriteHeader(&Header{Path: "/big", Type: TypeRegular, Size: 4 << 20})
	nw.Write(make([]byte, 4<<20))
	for i := 0; i < 1000; i++ {
		nw.WriteHeader(&Header{Path: fmt.Sprintf("/f%04d", i), Type: TypeRegular, Size: 100})
		nw.Write(make([]byte, 100))
	}
	if err := nw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkReader(b *testing.B) {
	data := benchNAR(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		nr := NewReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			_, err := nr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, nr)
		}
	}
}

func BenchmarkDumpPath(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 1000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), make([]byte, 100), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, 4<<20), 0o644)
	var n int64
	for b.Loop() {
		cw := &countWriter{}
		if err := DumpPath(cw, dir); err != nil {
			b.Fatal(err)
		}
		n = cw.n
	}
	b.SetBytes(n)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
