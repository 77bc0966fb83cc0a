package json

import (
	"strconv"
	"testing"
)

// encode writes a decoded tree back as JSON with this package's encoders.
func encode(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, v)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float64:
		return AppendFloat(dst, v)
	case string:
		dst, _ = AppendString(dst, v) // decoded strings are valid UTF-8
		return dst
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = encode(dst, e)
		}
		return append(dst, ']')
	case *Object:
		dst = append(dst, '{')
		for i, k := range v.Keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst, _ = AppendString(dst, k)
			dst = append(dst, ':')
			dst = encode(dst, v.Values[i])
		}
		return append(dst, '}')
	}
	panic("unexpected type")
}

// FuzzDecode checks that decoding never panics and that whatever decodes
// survives an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(`{"a": [1, -2.5e3, true, null, "x\u00e9"]}`)
	f.Add(`[1, tru]`)
	f.Add(`"\ud83d\ude00"`)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		v, err := Decode(in)
		if err != nil {
			return
		}
		out := encode(nil, v)
		v2, err := Decode(string(out))
		if err != nil {
			t.Fatalf("re-decoding %q: %v", out, err)
		}
		if a, b := render(v), render(v2); a != b {
			t.Fatalf("round trip of %q: %s != %s", in, a, b)
		}
	})
}
