package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestInstantiateParseJobs checks that `instantiate --parse` of many files
// prints the same stdout and stderr, with the same exit status, whether
// the files are parsed on worker goroutines or one at a time by the
// evaluator's goroutine (CAIRN_PARSE_JOBS=0, the loop Nix has): in
// argument order, and nothing after the first file that fails.
func TestInstantiateParseJobs(t *testing.T) {
	work := t.TempDir()
	work, err := filepath.EvalSymlinks(work)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"a.nix":             "{ pkgs ? import <nixpkgs> {} }: { inherit (pkgs) hello; x = ./b.nix; y = \"a${toString 1}\"; }",
		"b.nix":             "let f = x: x + 1; in f 2 ++ [ ''\n  indented\n    text\n'' ]",
		"dir/default.nix":   "rec { a = 1; b = a; c = ./.; }",
		"sub/target.nix":    "{ here = ./x; }", // read through link.nix: ./x is relative to link.nix's directory
		"undefined.nix":     "x: y",
		"syntax.nix":        "{ a = ; }",
		"cursed-or.nix":     "let or = 1; in [ (x: x) or ]",
		"home.nix":          "~/x",
		"empty-attrs.nix":   "{ }",
		"dup.nix":           "{ a = 1; a = 2; }",
		"long/path/c.nix":   "with builtins; [ (map (x: x) [ 1 2 ]) __curPos ]",
		"with-dollar.nix":   "\"\\${x} $ ${toString 1}\"",
		"float.nix":         "[ 1.5 0.1e3 .5 ]",
		"inherit-multi.nix": "let a = { x = 1; y = 2; }; in { inherit (a) x y; inherit a; }",
	}
	for name, src := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub/target.nix", filepath.Join(work, "link.nix")); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 150 {
		many = append(many, []string{"a.nix", "b.nix", "dir", "link.nix", "float.nix"}[i%5])
	}
	withFailure := func(i int, name string) []string {
		l := append([]string(nil), many...)
		l[i] = name
		return l
	}
	cases := [][]string{
		{"a.nix", "b.nix", "dir", "link.nix", "home.nix", "empty-attrs.nix", "long/path/c.nix", "with-dollar.nix", "float.nix", "inherit-multi.nix"},
		{"a.nix", filepath.Join(work, "b.nix"), "./dir/", "sub/../b.nix"},
		{"a.nix", "b.nix", "undefined.nix", "dir"},
		{"a.nix", "syntax.nix", "b.nix"},
		{"dup.nix", "a.nix"},
		{"a.nix", "missing.nix", "b.nix"},
		{"a.nix", "cursed-or.nix", "b.nix"},
		{"b.nix", "<nixpkgs>", "a.nix"},
		{"b.nix", "sub", "a.nix"}, // a directory without default.nix
		{"undefined.nix"},
		{"a.nix"},
		many,
		withFailure(0, "syntax.nix"),
		withFailure(77, "undefined.nix"),
		withFailure(149, "missing.nix"),
		withFailure(100, "cursed-or.nix"),
		{"a.nix", "-", "b.nix"}, // standard input first, then the files
	}
	run := func(jobs string, args []string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		env := []string{"NIX_REMOTE=dummy://", "HOME=" + work, "NIX_PATH=", "CAIRN_PARSE_JOBS=" + jobs}
		code := mainIn(t.Context(), work, append([]string{"cairn", "instantiate", "--parse"}, args...), strings.NewReader("let x = 1; in x"), &stdout, &stderr, env)
		return stdout.String(), stderr.String(), code
	}
	for i, args := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			wantOut, wantErr, wantCode := run("0", args)
			if wantCode == 0 && strings.Count(wantOut, "\n") != len(args) && !slices.Contains(args, "-") {
				t.Errorf("the one-at-a-time run printed %d lines for %d files (stderr %q)", strings.Count(wantOut, "\n"), len(args), wantErr)
			}
			if i == 13 && (wantCode != 1 || strings.Count(wantOut, "\n") != 77) {
				t.Errorf("a failure at file 77: exit %d and %d lines, want 1 and 77", wantCode, strings.Count(wantOut, "\n"))
			}
			for _, jobs := range []string{"1", "2", "3"} {
				out, errOut, code := run(jobs, args)
				if out != wantOut {
					t.Errorf("CAIRN_PARSE_JOBS=%s: stdout\n%s\nwant\n%s", jobs, out, wantOut)
				}
				if errOut != wantErr || code != wantCode {
					t.Errorf("CAIRN_PARSE_JOBS=%s: exit %d, stderr\n%s\nwant exit %d, stderr\n%s", jobs, code, errOut, wantCode, wantErr)
				}
			}
		})
	}
}

// TestReadRegularFile checks the worker's reader: regular files only, not
// through a final symbolic link, empty files and files larger than the
// buffer included.
func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	for name, content := range map[string][]byte{"empty": nil, "small": []byte("x"), "big": big} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, buf := range [][]byte{nil, make([]byte, 0, 4), make([]byte, 0, 1<<20)} {
			got, ok := readRegularFile(p, buf)
			if !ok || !bytes.Equal(got, content) {
				t.Errorf("%s (buffer cap %d): %d bytes, ok %v; want %d bytes", name, cap(buf), len(got), ok, len(content))
			}
		}
	}
	if err := os.Symlink("small", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link", "missing", "."} {
		if _, ok := readRegularFile(filepath.Join(dir, name), nil); ok {
			t.Errorf("%s: read, want refused", name)
		}
	}
}
