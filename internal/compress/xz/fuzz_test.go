package xz

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// FuzzReader checks that no input makes the reader panic or hang, and
// that whatever ulikunitz/xz decodes, this reader decodes the same. Where
// ulikunitz is more lenient than xz-utils (it accepts a stream that ends
// after its header, for one), this reader may fail, but what it handed
// out before failing must be a prefix of ulikunitz's output.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeAll(in, 4096)
		want, uerr := ulikunitzDecode(in)
		if uerr != nil {
			return
		}
		if errors.Is(err, ErrUnsupported) {
			return
		}
		if err != nil {
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("ulikunitz decodes %d bytes, this reader fails (%v) after %d bytes that differ", len(want), err, len(got))
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("output differs from ulikunitz: %d vs %d bytes", len(got), len(want))
		}
	})
}
