// Package json decodes and encodes JSON the way current Nix's
// builtins.fromJSON and builtins.toJSON do; both use nlohmann::json, and
// this package reproduces its observable behaviour and messages.
//
// Decode is nlohmann's SAX parser with Nix's handler: integers stay int64
// (a non-negative one above int64 is Nix's "unsigned json number ... outside
// of Nix integer range" error), other numbers are float64, NUL in strings or
// keys is Nix's null-byte error, duplicate keys keep the last value, and
// syntax errors carry nlohmann's text with line, column and "last read".
//
// AppendString and AppendFloat are nlohmann's serializer for strings (strict
// UTF-8, minimal escaping) and doubles (Grisu2 digits, "1.0" for integral
// values, "1e+16" beyond 15 digits, null for NaN and infinities).
// AppendString28 is Nix 2.8's string writer (no UTF-8 check, \u0008 for
// \b); 2.8 wrote floats as numfmt.FormatFloatEval does.
package json
