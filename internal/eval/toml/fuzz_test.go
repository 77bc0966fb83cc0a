package toml

import "testing"

// FuzzDecode checks that decoding never panics and that errors are *Error.
func FuzzDecode(f *testing.F) {
	f.Add("a = 1\n[t]\nb = [1, 'x', {c = 1979-05-27T07:32:00Z}]\n")
	f.Add("[[p]]\nn = \"\"\"\\\n x\"\"\"\n[[p]]\n")
	f.Add("a.b.c = 0x_1")
	f.Fuzz(func(t *testing.T, doc string) {
		if len(doc) > 4096 {
			return
		}
		v, err := Decode(doc)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if _, ok := v.(*Object); !ok {
			t.Fatalf("root is %T", v)
		}
		_ = render(v)
	})
}
