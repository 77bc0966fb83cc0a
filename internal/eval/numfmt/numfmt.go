// Package numfmt formats Nix floats the two ways the C++ evaluator does.
//
// FormatFloatEval is what `nix-instantiate --eval`, `trace`, error messages,
// --xml and Nix 2.8's toJSON print: the C++ ostream default, i.e. printf "%g"
// with 6 significant digits (0.1+0.2 prints as 0.3, 1e16 as 1e+16).
// FormatFloatToString is what builtins.toString and string coercion produce:
// std::to_string, i.e. printf "%f" (1.5 becomes "1.500000").
//
// Infinities and NaNs print as glibc prints them: "inf", "-inf", "nan" and
// "-nan" (the sign bit of a NaN is shown).
package numfmt

import (
	"math"
	"strconv"
)

// FormatFloatEval formats f as a C++ ostream does by default ("%g", 6 digits).
func FormatFloatEval(f float64) string {
	if s, ok := special(f); ok {
		return s
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// FormatFloatToString formats f as std::to_string does ("%f").
func FormatFloatToString(f float64) string {
	if s, ok := special(f); ok {
		return s
	}
	return strconv.FormatFloat(f, 'f', 6, 64)
}

// AppendFloatEval is like FormatFloatEval but appends to dst.
func AppendFloatEval(dst []byte, f float64) []byte {
	if s, ok := special(f); ok {
		return append(dst, s...)
	}
	return strconv.AppendFloat(dst, f, 'g', 6, 64)
}

func special(f float64) (string, bool) {
	switch {
	case math.IsInf(f, 1):
		return "inf", true
	case math.IsInf(f, -1):
		return "-inf", true
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan", true
		}
		return "nan", true
	}
	return "", false
}
