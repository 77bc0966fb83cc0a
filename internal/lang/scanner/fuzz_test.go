package scanner

import (
	"testing"

	"cairn/internal/lang/token"
)

// FuzzScan checks that the scanner terminates, never panics, and yields
// token offsets within the source, in order.
func FuzzScan(f *testing.F) {
	for _, s := range []string{"{ a = 1; }", "''a${b}''", "./a/${b}.nix", "\"a\\n$${x}\"", "x:x <p> ~/a 1.5e3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<16 {
			return
		}
		fset := token.NewFileSet()
		file := fset.AddFile("fuzz", len(src))
		var s Scanner
		s.Init(file, src, nil)
		last := 0
		for i := 0; ; i++ {
			if i > 3*len(src)+10 {
				t.Fatalf("no progress after %d tokens", i)
			}
			var tk Tok
			s.Next(&tk)
			if tk.Start < 0 || tk.End < tk.Start || tk.End > len(src) {
				t.Fatalf("token %v at [%d,%d) outside source of %d bytes", tk.Kind, tk.Start, tk.End, len(src))
			}
			if tk.Kind != token.PATH_END && tk.Start < last {
				t.Fatalf("token %v at %d goes back before %d", tk.Kind, tk.Start, last)
			}
			last = tk.End
			if tk.Kind == token.STR || tk.Kind == token.IND_STR {
				_ = s.StringValue(&tk)
			}
			if tk.Kind == token.EOF {
				return
			}
		}
	})
}
