package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nar"
)

// FuzzNarAccessor checks the NAR index behind nar ls / nar cat against
// compat/nar: whatever the input, either both reject it or the recursive
// JSON listing equals nar.Listing's, and every regular file read through
// the index has the size the listing gives.
func FuzzNarAccessor(f *testing.F) {
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "t/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "t/a"), []byte("a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "t/sub/x"), []byte("x"), 0o755)
	os.Symlink("../a", filepath.Join(dir, "t/sub/l"))
	os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644)
	for _, p := range []string{"t", "f", "t/sub/l"} {
		var b bytes.Buffer
		if err := nar.DumpPath(&b, filepath.Join(dir, p)); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		acc, err := newNarAccessor(data)
		l, lerr := nar.NewListing(bytes.NewReader(data))
		if (err != nil) != (lerr != nil) {
			// The index ignores trailing data; the listing rejects it.
			if err == nil && lerr != nil && strings.Contains(lerr.Error(), "trailing data") {
				return
			}
			t.Fatalf("index error %v, listing error %v", err, lerr)
		}
		if err != nil {
			return
		}
		got, err := listJSON(nil, acc, "", true)
		if err != nil {
			t.Fatal(err)
		}
		want, err := l.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want = bytes.TrimSuffix(bytes.TrimPrefix(want, []byte(`{"version":1,"root":`)), []byte("}"))
		if !bytes.Equal(got, want) {
			t.Fatalf("listing\n%s\nwant\n%s", got, want)
		}
		for p, e := range acc.nodes {
			if e.typ != nar.TypeRegular {
				continue
			}
			b, err := acc.readFile(p)
			if err != nil || int64(len(b)) != e.size {
				t.Fatalf("readFile %q: %d bytes, %v", p, len(b), err)
			}
		}
	})
}

func TestNarAccessorErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644)
	var b bytes.Buffer
	if err := nar.DumpPath(&b, filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, []byte("nix-archive-1"), b.Bytes()[:50]} {
		if _, err := newNarAccessor(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	acc, err := newNarAccessor(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := catFile(acc, "", &out); err != nil || out.String() != "hello\n" {
		t.Errorf("cat of the root file: %q %v", out.String(), err)
	}
	if err := list(acc, "", LsFlags{}, &out); err != nil {
		t.Errorf("ls of the root file: %v", err)
	}
	if _, err := acc.readDir(""); err == nil {
		t.Error("readDir of a file succeeded")
	}
	if _, err := acc.readLink("/x"); err == nil {
		t.Error("readLink of a missing path succeeded")
	}
}
