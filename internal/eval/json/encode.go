package json

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendString appends s as a JSON string literal the way current Nix's
// toJSON does (nlohmann::json dump, ensure_ascii off, strict UTF-8): \" \\
// \b \f \n \r \t, other control characters as \u00xx, everything else raw.
// Invalid UTF-8 is an error whose text is Nix's ("JSON serialization error:
// [json.exception.type_error.316] invalid UTF-8 byte at index 16: 0xFF").
//
// Nix builds the whole JSON tree before it serialises it, so a caller
// converting a value must report evaluation errors anywhere in the value
// before an invalid string found earlier in output order.
func AppendString(dst []byte, s string) ([]byte, error) {
	if err := checkUTF8(s); err != nil {
		return dst, err
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

const hexLower = "0123456789abcdef"

// checkUTF8 reports the first byte at which s stops being valid UTF-8, as
// nlohmann's serializer does: the index is that of the byte that made the
// sequence invalid, and a truncated sequence at the end is reported
// separately.
func checkUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	need := 0            // continuation bytes still expected
	lo, hi := 0x80, 0xBF // allowed range for the next continuation byte
	for i := 0; i < len(s); i++ {
		c := int(s[i])
		if need > 0 {
			if c < lo || c > hi {
				return serializationError(fmt.Sprintf("invalid UTF-8 byte at index %d: 0x%02X", i, c))
			}
			need--
			lo, hi = 0x80, 0xBF
			continue
		}
		switch {
		case c < 0x80:
		case 0xC2 <= c && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case 0xF1 <= c && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		default:
			return serializationError(fmt.Sprintf("invalid UTF-8 byte at index %d: 0x%02X", i, c))
		}
	}
	return serializationError(fmt.Sprintf("incomplete UTF-8 string; last byte: 0x%02X", s[len(s)-1]))
}

// SerializationError is a value that nlohmann::json refuses to serialise.
type SerializationError struct{ Msg string }

func (e *SerializationError) Error() string { return "JSON serialization error: " + e.Msg }

func serializationError(msg string) error {
	return &SerializationError{"[json.exception.type_error.316] " + msg}
}

// AppendFloat appends f as current Nix's toJSON prints floats (nlohmann):
// Grisu2 digits (shortest or nearly so; they always round-trip), in fixed notation when the decimal
// exponent is in [-4, 15) (with ".0" added to integral values) and as
// d.ddde+XX otherwise; NaN and infinities become null.
//
// Nix 2.8 printed floats with the C++ ostream default instead; see package
// numfmt.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, "null"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	digits, exp := grisu2(buf[:0], f)
	return formatBuffer(dst, digits, exp)
}

// formatBuffer is nlohmann::detail::dtoa_impl::format_buffer with
// min_exp = -4 and max_exp = 15.
func formatBuffer(dst, digits []byte, decExp int) []byte {
	const minExp, maxExp = -4, 15
	k := len(digits)
	n := k + decExp
	switch {
	case k <= n && n <= maxExp:
		dst = append(dst, digits...)
		for i := k; i < n; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case 0 < n && n <= maxExp:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		return append(dst, digits[n:]...)
	case minExp < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -n; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0])
	if k > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	e := n - 1
	if e < 0 {
		dst = append(dst, '-')
		e = -e
	} else {
		dst = append(dst, '+')
	}
	if e < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(e), 10)
}

// AppendString28 appends s as Nix 2.8's toJSON wrote strings
// (src/libutil/json.cc): \" \\ \n \r \t, other bytes below 0x20 as \u00xx
// (so \b is \u0008), and every other byte unchanged, without any UTF-8
// check. Nix 2.8 printed floats as numfmt.FormatFloatEval does.
func AppendString28(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
