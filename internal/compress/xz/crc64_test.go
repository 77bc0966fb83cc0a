package xz

import (
	"bytes"
	"hash/crc64"
	"math/rand"
	"testing"
)

func TestCRC64MatchesStdlib(t *testing.T) {
	tab := newCRC64Tables()
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, 5000)
	rng.Read(data)
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 4999, 5000} {
		// the same data written whole and in random pieces
		want := crc64.New(crc64.MakeTable(crc64.ECMA))
		want.Write(data[:n])
		d := &crc64Digest{t: tab}
		d.Write(data[:n])
		if d.Sum64() != want.Sum64() {
			t.Fatalf("%d bytes: crc %#x, hash/crc64 %#x", n, d.Sum64(), want.Sum64())
		}
		if !bytes.Equal(d.Sum([]byte("x")), want.Sum([]byte("x"))) {
			t.Fatalf("%d bytes: Sum differs", n)
		}
		d.Reset()
		for p := data[:n]; len(p) > 0; {
			k := min(len(p), rng.Intn(40))
			d.Write(p[:k])
			p = p[k:]
		}
		if d.Sum64() != want.Sum64() {
			t.Fatalf("%d bytes in pieces: crc %#x, hash/crc64 %#x", n, d.Sum64(), want.Sum64())
		}
	}
}
