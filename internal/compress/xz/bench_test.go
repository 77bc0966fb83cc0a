package xz

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	ulikunitz "github.com/ulikunitz/xz"
)

// benchInput returns xz data to decode: the file named by XZ_BENCH_FILE
// (e.g. a tar of /usr/lib compressed with xz -6), or 8 MiB of mixed test
// data compressed with xz -6.
func benchInput(b *testing.B) ([]byte, int64) {
	var c []byte
	if f := os.Getenv("XZ_BENCH_FILE"); f != "" {
		var err error
		if c, err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	} else {
		in := testInputs(b)
		data := append(append(append([]byte{}, in["mixed"]...), in["binary"]...), in["text"]...)
		c = xzCompress(b, data, "-6")
	}
	z, err := NewReader(bytes.NewReader(c))
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, z)
	if err != nil {
		b.Fatal(err)
	}
	return c, n
}

// cpuTime returns the process's user+system CPU time: on a shared
// machine, MB per CPU second is steadier than MB per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, n int64) {
	cpu := (cpuTime() - start).Seconds()
	b.ReportMetric(float64(n)*float64(b.N)/cpu/1e6, "MB/cpu-s")
}

func BenchmarkReader(b *testing.B) {
	benchDecode(b, func(r io.Reader) (io.Reader, error) { return NewReader(r) })
}

func BenchmarkUlikunitz(b *testing.B) {
	benchDecode(b, func(r io.Reader) (io.Reader, error) { return ulikunitz.NewReader(r) })
}

func benchDecode(b *testing.B, newReader func(io.Reader) (io.Reader, error)) {
	c, n := benchInput(b)
	buf := make([]byte, 32<<10)
	b.SetBytes(n)
	b.ResetTimer()
	start := cpuTime()
	defer func() { reportCPU(b, start, n) }()
	for b.Loop() {
		z, err := newReader(bytes.NewReader(c))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{z}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
