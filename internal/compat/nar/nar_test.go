package nar

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
)

// tok builds a NAR from strings; a tok value of type rawBytes is copied
// unframed.
type rawBytes []byte

func build(parts ...any) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
			b.Write(n[:])
			b.WriteString(p)
			b.Write(make([]byte, padLen(uint64(len(p)))))
		case rawBytes:
			b.Write(p)
		}
	}
	return b.Bytes()
}

func entry(name string, node ...any) []any {
	return append(append([]any{"entry", "(", "name", name, "node"}, node...), ")")
}

func file(contents string) []any {
	return []any{"(", "type", "regular", "contents", contents, ")"}
}

func dir(entries ...[]any) []any {
	out := []any{"(", "type", "directory"}
	for _, e := range entries {
		out = append(out, e...)
	}
	return append(out, ")")
}

func nar(node []any) []byte { return build(append([]any{Magic}, node...)...) }

// list renders the headers of a NAR compactly, e.g. "/ d; /a f6x; /l l>a".
func list(t *testing.T, data []byte) (string, error) {
	t.Helper()
	nr := NewReader(bytes.NewReader(data))
	var out []string
	for {
		h, err := nr.Next()
		if err == io.EOF {
			return strings.Join(out, "; "), nil
		}
		if err != nil {
			return strings.Join(out, "; "), err
		}
		s := h.Path + " "
		switch h.Type {
		case TypeDirectory:
			s += "d"
		case TypeSymlink:
			s += "l>" + h.LinkTarget
		case TypeRegular:
			c, err := io.ReadAll(nr)
			if err != nil {
				return "", err
			}
			if int64(len(c)) != h.Size {
				t.Fatalf("%s: read %d bytes, header says %d", h.Path, len(c), h.Size)
			}
			s += fmt.Sprintf("f%d", h.Size)
			if h.Executable {
				s += "x"
			}
			if len(c) > 0 {
				s += "=" + string(c)
			}
		}
		out = append(out, s)
	}
}

// roundTrip reads data and writes it back, returning the bytes written.
func roundTrip(data []byte) ([]byte, error) {
	nr := NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	nw := NewWriter(&out)
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := nw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(nw, nr); err != nil {
			return nil, err
		}
	}
	if err := nw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func TestGoldenHello(t *testing.T) {
	data, err := os.ReadFile("testdata/hello.nar")
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 120 {
		t.Fatalf("hello.nar has %d bytes", len(data))
	}
	got, err := list(t, data)
	if err != nil || got != "/ f6=hello\n" {
		t.Errorf("list = %q, %v", got, err)
	}
	if built := nar(file("hello\n")); !bytes.Equal(built, data) {
		t.Errorf("hand-built NAR differs from nix-store --dump")
	}
	out, err := roundTrip(data)
	if err != nil || !bytes.Equal(out, data) {
		t.Errorf("round trip differs: %v", err)
	}
}

func TestGoldenTree(t *testing.T) {
	data, err := os.ReadFile("testdata/tree.nar")
	if err != nil {
		t.Fatal(err)
	}
	got, err := list(t, data)
	want := "/ d; /B f1=B; /a.sh f6x=hello\n; /b f0; /dangling l>/nonexistent/target; /empty-dir d; /empty-exe f0x; /link l>a.sh; " +
		"/sub d; /sub/deeper d; /sub/deeper/hundred f100=" + strings.Repeat("x", 100) + "; /sub/deeper/up l>../../b; /sub/eight f8=12345678; " +
		"/sub/q\"uote\\back f5=quote; /sub/seven f7=1234567; /sub/é—ü f8=unicode\n"
	if err != nil || got != want {
		t.Errorf("list:\n got %q, %v\nwant %q", got, err, want)
	}
	out, err := roundTrip(data)
	if err != nil || !bytes.Equal(out, data) {
		t.Errorf("round trip differs: %v", err)
	}
	// nix-hash --type sha256 --base32 of the tree.
	wantHash, err := os.ReadFile("testdata/tree.sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := nixhash.Sum(nixhash.SHA256, data).Encode(nixhash.Nix32, false); got != strings.TrimSpace(string(wantHash)) {
		t.Errorf("sha256 of tree.nar %s, nix-hash %s", got, wantHash)
	}

	// The listing, byte for byte as nix copy wrote it.
	wantLs, err := os.ReadFile("testdata/tree.ls")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListing(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	gotLs, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotLs, wantLs) {
		t.Errorf("listing:\n got %s\nwant %s", gotLs, wantLs)
	}
	var back Listing
	if err := json.Unmarshal(wantLs, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&back)
	if !bytes.Equal(again, wantLs) {
		t.Errorf("listing parse/print round trip:\n got %s\nwant %s", again, wantLs)
	}
	if _, err := NewListing(io.MultiReader(bytes.NewReader(data), strings.NewReader("x"))); err == nil {
		t.Errorf("NewListing accepted trailing data")
	}
}

func TestDumpRestore(t *testing.T) {
	data, err := os.ReadFile("testdata/tree.nar")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "tree")
	if err := Restore(bytes.NewReader(data), dst); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("a.sh not executable: %v %v", fi.Mode(), err)
	}
	var out bytes.Buffer
	if err := DumpPath(&out, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("dump of restored tree differs from tree.nar")
	}
	if err := Restore(bytes.NewReader(data), dst); err == nil {
		t.Errorf("Restore over an existing path succeeded")
	}
	// A single file and a symlink as the root.
	for _, root := range [][]any{file("x"), {"(", "type", "symlink", "target", "/x", ")"}} {
		data := nar(root)
		dst := filepath.Join(t.TempDir(), "root")
		if err := Restore(bytes.NewReader(data), dst); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := DumpPath(&out, dst); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Errorf("dump of restored root differs: %v", err)
		}
	}
}

func TestDumpRejectsSpecialFiles(t *testing.T) {
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := DumpPath(&out, "/dev/null"); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Errorf("DumpPath(/dev/null) = %v", err)
	}
}

func TestReaderErrors(t *testing.T) {
	long := strings.Repeat("n", 256)
	deep := file("x")
	for i := 0; i < MaxDepth; i++ {
		deep = dir(entry("d", deep...))
	}
	okDeep := file("x")
	for i := 0; i < MaxDepth-1; i++ {
		okDeep = dir(entry("d", okDeep...))
	}
	tests := []struct {
		name string
		data []byte
		want string // "" means it must succeed
	}{
		{"ok", nar(dir(entry("a", file("x")...), entry("b", file("y")...))), ""},
		{"max depth ok", nar(okDeep), ""},
		{"bad magic", build("nix-archive-2"), "input doesn't look like a Nix archive"},
		{"empty input", nil, "input doesn't look like a Nix archive"},
		{"unsorted", nar(dir(entry("b", file("x")...), entry("a", file("y")...))), `directory is not sorted: "a" after "b"`},
		{"duplicate", nar(dir(entry("a", file("x")...), entry("a", file("y")...))), `duplicate entry "a"`},
		{"empty name", nar(dir(entry("", file("x")...))), `invalid file name ""`},
		{"dot", nar(dir(entry(".", file("x")...))), `invalid file name "."`},
		{"dotdot", nar(dir(entry("..", file("x")...))), `invalid file name ".."`},
		{"slash", nar(dir(entry("a/b", file("x")...))), `invalid file name "a/b"`},
		{"nul", nar(dir(entry("a\x00b", file("x")...))), `invalid file name "a\x00b"`},
		{"long name", nar(dir(entry(long, file("x")...))), "string of 256 bytes is too long"},
		{"empty target", nar([]any{"(", "type", "symlink", "target", "", ")"}), `invalid symlink target ""`},
		{"nul target", nar([]any{"(", "type", "symlink", "target", "a\x00", ")"}), `invalid symlink target "a\x00"`},
		{"long target", nar([]any{"(", "type", "symlink", "target", strings.Repeat("t", 4096), ")"}), "string of 4096 bytes is too long"},
		{"too deep", nar(deep), "directory nesting exceeds maximum depth of 64"},
		{"executable after contents", nar([]any{"(", "type", "regular", "contents", "x", "executable", "", ")"}), "expected tag ')', got 'executable'"},
		{"executable with value", nar([]any{"(", "type", "regular", "executable", "1", "contents", "x", ")"}), "executable marker has non-empty value"},
		{"no contents", nar([]any{"(", "type", "regular", ")"}), "expected tag 'contents', got ')'"},
		{"unknown type", nar([]any{"(", "type", "fifo", ")"}), "unknown file type 'fifo'"},
		{"type missing", nar([]any{"(", "regular"}), "expected tag 'type', got 'regular'"},
		{"bad entry tag", nar([]any{"(", "type", "directory", "entry", "(", "name", "a", "nod", ")"}), "expected tag 'node', got 'nod'"},
		{"not entry", nar([]any{"(", "type", "directory", "file", ")"}), "expected tag 'entry' or ')', got 'file'"},
		{"truncated contents", append(build(Magic, "(", "type", "regular", "contents"), build("abc")[:8+3]...), "truncated input"},
		{"non-zero padding 2", build(Magic, "(", "type", "regular", "contents", rawBytes{3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 1}, ")"), "non-zero padding"},
		{"non-zero tag padding", build(Magic, rawBytes{1, 0, 0, 0, 0, 0, 0, 0, '(', 0, 0, 1, 0, 0, 0, 0}), "non-zero padding"},
		{"huge size", build(Magic, "(", "type", "regular", "contents", rawBytes{0, 0, 0, 0, 0, 0, 0, 0x80}), "too large"},
		{"huge tag", build(Magic, rawBytes{0, 0, 0, 0, 0, 0, 0, 0x80}), "string of 9223372036854775808 bytes is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := list(t, tt.data)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadArchive) {
				t.Errorf("error %v is not ErrBadArchive", err)
			}
		})
	}
}

// TestTruncated cuts a valid NAR at every byte: every prefix must fail
// with a truncation error, never succeed or panic.
func TestTruncated(t *testing.T) {
	data, err := os.ReadFile("testdata/tree.nar")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i++ {
		_, err := list(t, data[:i])
		if err == nil || !errors.Is(err, ErrBadArchive) {
			t.Fatalf("prefix of %d bytes: error %v", i, err)
		}
		if i > 16 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix of %d bytes: error %v is not ErrUnexpectedEOF", i, err)
		}
	}
}

func TestReaderStopsAtEnd(t *testing.T) {
	data := append(nar(file("x")), "trailing"...)
	r := bytes.NewReader(data)
	if _, err := list(t, data); err != nil {
		t.Fatal(err)
	}
	nr := NewReader(r)
	for {
		if _, err := nr.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "trailing" {
		t.Errorf("reader consumed past the archive; left %q", rest)
	}
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name    string
		headers []Header
		want    string
	}{
		{"first not root", []Header{{Path: "/a", Type: TypeDirectory}}, `first header is "/a"`},
		{"out of order", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/b", Type: TypeDirectory}, {Path: "/a", Type: TypeDirectory}}, "out of order"},
		{"duplicate", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/a", Type: TypeDirectory}, {Path: "/a", Type: TypeDirectory}}, "out of order"},
		{"parent not open", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/a/b", Type: TypeDirectory}}, "not inside an open directory"},
		{"into a file", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/a", Type: TypeRegular}, {Path: "/a/b", Type: TypeRegular}}, "not inside an open directory"},
		{"second root", []Header{{Path: "/", Type: TypeRegular}, {Path: "/", Type: TypeRegular}}, "after the root"},
		{"bad name", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/..", Type: TypeRegular}}, `invalid file name ".."`},
		{"trailing slash", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/a/", Type: TypeRegular}}, `invalid file name ""`},
		{"empty target", []Header{{Path: "/", Type: TypeSymlink}}, "invalid symlink target"},
		{"short contents", []Header{{Path: "/", Type: TypeDirectory}, {Path: "/a", Type: TypeRegular, Size: 3}, {Path: "/b", Type: TypeRegular}}, "missing 3 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := NewWriter(io.Discard)
			var err error
			for i := range tt.headers {
				if err = nw.WriteHeader(&tt.headers[i]); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
	nw := NewWriter(io.Discard)
	nw.WriteHeader(&Header{Path: "/", Type: TypeRegular, Size: 1})
	if _, err := nw.Write([]byte("ab")); err != ErrWriteTooLong {
		t.Errorf("Write too long: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"testdata/hello.nar", "testdata/tree.nar"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(nar(dir(entry("a", file("x")...), entry("b", "(", "type", "symlink", "target", "a", ")"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		r := bytes.NewReader(data)
		nr := NewReader(r)
		var out bytes.Buffer
		nw := NewWriter(&out)
		for {
			h, err := nr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrBadArchive) {
					t.Fatalf("error %v is not ErrBadArchive", err)
				}
				return
			}
			if err := nw.WriteHeader(h); err != nil {
				t.Fatalf("writer rejects header %+v the reader accepted: %v", h, err)
			}
			if _, err := io.Copy(nw, nr); err != nil {
				if errors.Is(err, ErrBadArchive) {
					return
				}
				t.Fatal(err)
			}
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		consumed := data[:len(data)-r.Len()]
		if !bytes.Equal(out.Bytes(), consumed) {
			t.Fatalf("round trip differs:\n in %q\nout %q", consumed, out.Bytes())
		}
	})
}

func TestDumpPathFilter(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a", "b/c", "b/d", "e"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(p), 0o644)
	}
	var out bytes.Buffer
	err := DumpPathFilter(&out, root, func(p string, fi fs.FileInfo) (bool, error) {
		return filepath.Base(p) != "c" && filepath.Base(p) != "e", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := list(t, out.Bytes())
	if want := "/ d; /a f1=a; /b d; /b/d f3=b/d"; err != nil || got != want {
		t.Errorf("filtered listing %q, %v; want %q", got, err, want)
	}
	stop := errors.New("stop")
	err = DumpPathFilter(io.Discard, root, func(string, fs.FileInfo) (bool, error) { return false, stop })
	if err != stop {
		t.Errorf("filter error not returned as is: %v", err)
	}
}
