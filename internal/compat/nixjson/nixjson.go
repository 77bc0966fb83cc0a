// Package nixjson writes JSON strings the way Nix 2.8's JSON writer
// (src/libutil/json.cc) does: '"' and '\' backslash-escaped, \n \r \t,
// other control bytes as \u00xx, every other byte as it is (no UTF-8
// validation). Nix 2.8 prints derivation JSON and NAR listings with it.
package nixjson

const hex = "0123456789abcdef"

// AppendString appends s as a quoted JSON string to dst.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
