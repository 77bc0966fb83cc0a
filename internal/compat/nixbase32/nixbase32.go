// Package nixbase32 implements Nix's base-32 encoding ("nix32").
//
// The alphabet is "0123456789abcdfghijklmnpqrsvwxyz": the digits and the
// lower-case letters without e, o, u and t. Only lower case is accepted.
//
// The bit order differs from RFC 4648: the input bytes are read as one
// little-endian integer, which is printed in base 32 with the most
// significant digit first and zero-padded to EncodedLen(n) = ⌈8n/5⌉
// characters. The last input byte therefore determines the first output
// characters. A 20-byte store-path digest becomes 32 characters and a
// sha256 digest 52.
//
// The decoder rejects characters outside the alphabet and any set bits that
// fall beyond the last decoded byte, so every byte string has exactly one
// encoding, as in Nix's parseHash.
//
// The API is shaped like encoding/base32.
package nixbase32

import (
	"errors"
	"fmt"
)

// Alphabet is the set of digits in Nix base-32, in value order.
const Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// ErrInvalid is matched (with errors.Is) by every decoding error.
var ErrInvalid = errors.New("invalid nix32 string")

// CorruptInputError reports the offset of the first invalid character, or
// of the first character carrying bits beyond the decoded length.
type CorruptInputError struct {
	Offset int
	Reason string
}

func (e *CorruptInputError) Error() string {
	return fmt.Sprintf("invalid nix32 string: %s at offset %d", e.Reason, e.Offset)
}

// Is reports whether target is ErrInvalid.
func (e *CorruptInputError) Is(target error) bool { return target == ErrInvalid }

// reverse maps a byte to its digit value, or 0xff if it is not a digit.
var reverse = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(Alphabet); i++ {
		t[Alphabet[i]] = byte(i)
	}
	return t
}()

// EncodedLen returns the length of the encoding of n bytes.
func EncodedLen(n int) int {
	if n == 0 {
		return 0
	}
	return (n*8-1)/5 + 1
}

// DecodedLen returns the number of bytes encoded by n characters. Not every
// n is a valid encoded length; ValidEncodedLen tells.
func DecodedLen(n int) int {
	return n * 5 / 8
}

// ValidEncodedLen reports whether n characters can be the output of
// Encode for some input.
func ValidEncodedLen(n int) bool {
	return EncodedLen(DecodedLen(n)) == n
}

// Encode writes the encoding of src to dst, which must have room for
// EncodedLen(len(src)) bytes.
func Encode(dst, src []byte) {
	n := EncodedLen(len(src))
	for i := 0; i < n; i++ {
		// Character i (from the left) holds digit number n-1-i.
		b := uint(n-1-i) * 5
		j, k := b/8, b%8
		c := uint(src[j]) >> k
		if j+1 < uint(len(src)) {
			c |= uint(src[j+1]) << (8 - k)
		}
		dst[i] = Alphabet[c&0x1f]
	}
}

// EncodeToString returns the encoding of src.
func EncodeToString(src []byte) string {
	dst := make([]byte, EncodedLen(len(src)))
	Encode(dst, src)
	return string(dst)
}

// Decode decodes src into dst, which must have room for
// DecodedLen(len(src)) bytes, and returns the number of bytes written.
func Decode(dst, src []byte) (int, error) {
	if !ValidEncodedLen(len(src)) {
		return 0, &CorruptInputError{Offset: len(src), Reason: fmt.Sprintf("impossible length %d", len(src))}
	}
	n := DecodedLen(len(src))
	clear(dst[:n])
	for i := 0; i < len(src); i++ {
		digit := reverse[src[i]]
		if digit == 0xff {
			return 0, &CorruptInputError{Offset: i, Reason: fmt.Sprintf("character %q not in alphabet", src[i])}
		}
		b := uint(len(src)-1-i) * 5
		j, k := b/8, b%8
		dst[j] |= digit << k
		carry := uint(digit) >> (8 - k)
		if j+1 < uint(n) {
			dst[j+1] |= byte(carry)
		} else if carry != 0 {
			return 0, &CorruptInputError{Offset: i, Reason: "non-zero excess bits"}
		}
	}
	return n, nil
}

// DecodeString returns the bytes encoded by s.
func DecodeString(s string) ([]byte, error) {
	dst := make([]byte, DecodedLen(len(s)))
	n, err := Decode(dst, []byte(s))
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

// ValidString reports whether s is a valid encoding.
func ValidString(s string) bool {
	_, err := DecodeString(s)
	return err == nil
}

// IsDigit reports whether c is in the alphabet.
func IsDigit(c byte) bool { return reverse[c] != 0xff }
