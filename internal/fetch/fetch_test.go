package fetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/~wiggle~": "~wiggle~",
		"http://h/a/b.tar.gz":          "b.tar.gz",
		"http://h/dir/":                "dir",
		"http://h/f?x=1":               "f?x=1",
		"noslash":                      "noslash",
	} {
		if got := BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, want := range map[string]string{
		"foo-1.0.tar.gz":         "",
		"~wiggle~":               "name '~wiggle~' contains illegal character '~'",
		"":                       "name must not be empty",
		"..":                     "name '..' is not valid",
		".-x":                    "name '.-x' is not valid: first dash-separated component must not be '.'",
		strings.Repeat("a", 212): "name '" + strings.Repeat("a", 212) + "' must be no longer than 211 characters",
	} {
		err := CheckName(name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "body")
	}))
	defer srv.Close()
	var b bytes.Buffer
	if err := Download(t.Context(), srv.Client(), srv.URL+"/ok", &b); err != nil || b.String() != "body" {
		t.Errorf("ok: %q, %v", b.String(), err)
	}
	err := Download(t.Context(), srv.Client(), srv.URL+"/missing", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HTTP error 404") {
		t.Errorf("404: %v", err)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Download(t.Context(), srv.Client(), "file://"+p, &b); err != nil || b.String() != "local" {
		t.Errorf("file: %q, %v", b.String(), err)
	}
	if err := Download(t.Context(), srv.Client(), "file:./rel", io.Discard); err == nil {
		t.Error("relative file URL: no error")
	}
	if err := Download(t.Context(), srv.Client(), "ftp://x/y", io.Discard); err == nil {
		t.Error("ftp: no error")
	}
}

type entry struct {
	name, body, link string
	mode             int64
	dir              bool
}

var sample = []entry{
	{name: "pkg/", dir: true, mode: 0o755},
	{name: "pkg/a", body: "hi\n", mode: 0o644},
	{name: "pkg/sub/run", body: "#!/bin/sh\n", mode: 0o755},
	{name: "pkg/link", link: "a"},
}

func makeTar(t *testing.T, ents []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compress(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	switch kind {
	case "tar":
		return data
	case "gz":
		w = gzip.NewWriter(&b)
	case "xz":
		var err error
		if w, err = xz.NewWriter(&b); err != nil {
			t.Fatal(err)
		}
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func makeZip(t *testing.T) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range sample {
		fh := &zip.FileHeader{Name: e.name}
		switch {
		case e.dir:
			fh.SetMode(os.ModeDir | 0o755)
		case e.link != "":
			fh.SetMode(os.ModeSymlink | 0o777)
		default:
			fh.SetMode(os.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body+e.link)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func unpackBytes(t *testing.T, data []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "archive")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out, Unpack(f, out)
}

func TestUnpack(t *testing.T) {
	archives := map[string][]byte{"zip": makeZip(t)}
	for _, k := range []string{"tar", "gz", "xz"} {
		archives[k] = compress(t, k, makeTar(t, sample))
	}
	for kind, data := range archives {
		out, err := unpackBytes(t, data)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		top, err := TopDir(out, "u")
		if err != nil || filepath.Base(top) != "pkg" {
			t.Fatalf("%s: top %q, %v", kind, top, err)
		}
		if b, err := os.ReadFile(filepath.Join(top, "a")); err != nil || string(b) != "hi\n" {
			t.Errorf("%s: a = %q, %v", kind, b, err)
		}
		if fi, err := os.Stat(filepath.Join(top, "sub", "run")); err != nil || fi.Mode()&0o100 == 0 {
			t.Errorf("%s: sub/run not executable: %v", kind, err)
		}
		if fi, err := os.Stat(filepath.Join(top, "a")); err != nil || fi.Mode()&0o100 != 0 {
			t.Errorf("%s: a executable: %v", kind, err)
		}
		if l, err := os.Readlink(filepath.Join(top, "link")); err != nil || l != "a" {
			t.Errorf("%s: link = %q, %v", kind, l, err)
		}
	}
}

func TestUnpackRejects(t *testing.T) {
	if _, err := unpackBytes(t, makeTar(t, []entry{{name: "../evil", body: "x", mode: 0o644}})); err == nil {
		t.Error("../evil: no error")
	}
	if _, err := unpackBytes(t, compress(t, "gz", []byte("not a tar at all, not at all, no"))); err == nil {
		t.Error("garbage: no error")
	}
	out, err := unpackBytes(t, makeTar(t, []entry{{name: "a", body: "1", mode: 0o644}, {name: "b", body: "2", mode: 0o644}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TopDir(out, "http://x/y.tar"); err == nil || err.Error() != "tarball 'http://x/y.tar' contains an unexpected number of top-level files" {
		t.Errorf("two top-level files: %v", err)
	}
}

// FuzzUnpack checks that Unpack never panics and never writes outside
// its destination.
func FuzzUnpack(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PK\x05\x06"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "archive")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		_ = Unpack(fh, out)
		ents, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 2 {
			t.Fatalf("Unpack wrote outside its destination: %v", ents)
		}
	})
}

func TestUnpackSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	data := makeTar(t, []entry{
		{name: "pkg/", dir: true, mode: 0o755},
		{name: "pkg/l", link: outside},
		{name: "pkg/l/x", body: "evil", mode: 0o644},
	})
	if _, err := unpackBytes(t, data); err == nil {
		t.Error("write through a symlink: no error")
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Error("file written outside the destination")
	}
	out, err := unpackBytes(t, makeTar(t, []entry{{name: "l", link: outside}, {name: "l", body: "plain", mode: 0o644}}))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "l")); err != nil || string(b) != "plain" {
		t.Errorf("replaced symlink: %q, %v", b, err)
	}
}
