package nixbase32

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVectors(t *testing.T) {
	tests := []struct {
		name, hex, nix32 string
	}{
		{"empty", "", ""},
		{"one zero byte", "00", "00"},
		{"one byte 0x1f", "1f", "0z"},
		{"one byte 0xff", "ff", "7z"},
		// sha256("hello\n"), checked with nix-hash --to-base32 (Nix 2.8).
		{"sha256", "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"},
		// The digest of /nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt (nix-hash --to-base16).
		{"store digest", "7daba60473c6b92b848d53c87815d4b7fe5c6f8a", "i9pmrzmpshapij2kin22pff6fc2adavx"},
		// Further vectors from nix-hash --to-base32 (Nix 2.8).
		{"last byte one", "0000000000000000000000000000000000000001", "04000000000000000000000000000000"},
		{"first byte one", "0100000000000000000000000000000000000000", "00000000000000000000000000000001"},
		{"md5 all ones", "ffffffffffffffffffffffffffffffff", "7zzzzzzzzzzzzzzzzzzzzzzzzz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := hex.DecodeString(tt.hex)
			got := EncodeToString(src)
			if got != tt.nix32 {
				t.Fatalf("EncodeToString(%s) = %q, want %q", tt.hex, got, tt.nix32)
			}
			if len(got) != EncodedLen(len(src)) {
				t.Fatalf("len = %d, EncodedLen = %d", len(got), EncodedLen(len(src)))
			}
			back, err := DecodeString(got)
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("DecodeString(%q) = %x, %v; want %s", got, back, err, tt.hex)
			}
		})
	}
}

func TestLengths(t *testing.T) {
	for _, tt := range []struct{ bytes, chars int }{{16, 26}, {20, 32}, {32, 52}, {64, 103}} {
		if got := EncodedLen(tt.bytes); got != tt.chars {
			t.Errorf("EncodedLen(%d) = %d, want %d", tt.bytes, got, tt.chars)
		}
		if got := DecodedLen(tt.chars); got != tt.bytes {
			t.Errorf("DecodedLen(%d) = %d, want %d", tt.chars, got, tt.bytes)
		}
	}
	for n := 0; n < 200; n++ {
		if DecodedLen(EncodedLen(n)) != n {
			t.Errorf("DecodedLen(EncodedLen(%d)) = %d", n, DecodedLen(EncodedLen(n)))
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"letter e", "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4ae", `invalid nix32 string: character 'e' not in alphabet at offset 51`},
		{"upper case", "00XYYR3FI8L6HB839BV3F7YB86YJV7XI1CGH1XNHIPYM4ASVB4AQ", `invalid nix32 string: character 'X' not in alphabet at offset 2`},
		{"excess bits", "20xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq", `invalid nix32 string: non-zero excess bits at offset 0`},
		{"excess bits one byte", "80", `invalid nix32 string: non-zero excess bits at offset 0`},
		{"bad length", "0", `invalid nix32 string: impossible length 1 at offset 1`},
		{"bad length 3", "000", `invalid nix32 string: impossible length 3 at offset 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeString(tt.in)
			if err == nil {
				t.Fatalf("DecodeString(%q) succeeded", tt.in)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestIsDigit(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := bytes.IndexByte([]byte(Alphabet), byte(c)) >= 0
		if IsDigit(byte(c)) != want {
			t.Errorf("IsDigit(%q) = %v", byte(c), !want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, "")
	f.Add([]byte("hello"), "0z")
	f.Add(bytes.Repeat([]byte{0xff}, 32), "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq")
	f.Fuzz(func(t *testing.T, src []byte, s string) {
		enc := EncodeToString(src)
		dec, err := DecodeString(enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("round trip of %x: %q -> %x, %v", src, enc, dec, err)
		}
		// Any string that decodes must re-encode to itself (canonical).
		if b, err := DecodeString(s); err == nil {
			if re := EncodeToString(b); re != s {
				t.Fatalf("DecodeString(%q) = %x re-encodes to %q", s, b, re)
			}
		}
	})
}
