package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestScripts runs the end-to-end cases in testdata/script/*.txtar through
// Main, in-process. Each archive holds sections "-- name --":
//
//	args    the command line after "cairn", one argument per line
//	stdin   standard input (optional)
//	env     extra KEY=VALUE lines (optional; NIX_REMOTE=dummy:// and
//	        HOME are preset)
//	stdout, stderr, code   the expected results (code defaults to 0;
//	        a missing stdout/stderr must be empty)
//	stdout.nonl   expected stdout that does not end in a newline (the
//	        section's own final newline is dropped)
//
// Every other section is a file written to the working directory, whose
// path appears as $WORK in the expected output.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := parseTxtar(string(b))
			work := t.TempDir()
			if work, err = filepath.EvalSymlinks(work); err != nil {
				t.Fatal(err)
			}
			env := []string{"NIX_REMOTE=dummy://", "HOME=" + work, "XDG_DATA_HOME=" + work + "/xdg"}
			for name, content := range sections {
				switch name {
				case "args", "stdin", "stdout", "stdout.nonl", "stderr", "code":
				case "env":
					env = append(env, strings.Split(strings.TrimSpace(content), "\n")...)
				default:
					p := filepath.Join(work, name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := append([]string{"cairn"}, strings.Split(strings.TrimSuffix(sections["args"], "\n"), "\n")...)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "$WORK", work)
			}
			var stdout, stderr bytes.Buffer
			code := mainIn(t.Context(), work, args, strings.NewReader(sections["stdin"]), &stdout, &stderr, env)
			wantCode := 0
			if c := strings.TrimSpace(sections["code"]); c != "" {
				wantCode, _ = strconv.Atoi(c)
			}
			got := func(s string) string { return strings.ReplaceAll(s, work, "$WORK") }
			if code != wantCode {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, wantCode, stderr.String())
			}
			wantOut := sections["stdout"]
			if s, ok := sections["stdout.nonl"]; ok {
				wantOut = strings.TrimSuffix(s, "\n")
			}
			if g := got(stdout.String()); g != wantOut {
				t.Errorf("stdout:\n%q\nwant:\n%q", g, wantOut)
			}
			if g := got(stderr.String()); g != sections["stderr"] {
				t.Errorf("stderr:\n%s\nwant:\n%s", g, sections["stderr"])
			}
		})
	}
}

// mainIn is Main with the working directory dir.
func mainIn(ctx context.Context, dir string, args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer, environ []string) int {
	return run(ctx, &Factory{Stdin: stdin, Stdout: stdout, Stderr: stderr, Environ: environ, Dir: dir, Prog: "cairn"}, args)
}

// parseTxtar splits a txtar archive into its named sections (the leading
// comment is dropped).
func parseTxtar(s string) map[string]string {
	out := map[string]string{}
	name := ""
	var b strings.Builder
	flush := func() {
		if name != "" {
			out[name] = b.String()
		}
		b.Reset()
	}
	for line := range strings.Lines(s) {
		l := strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") && len(l) > 6 {
			flush()
			name = l[3 : len(l)-3]
			continue
		}
		b.WriteString(line)
	}
	flush()
	return out
}
