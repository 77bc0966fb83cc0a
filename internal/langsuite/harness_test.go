package langsuite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// This file mirrors ../shared/conformance/run-nix-lang-suite.sh: one function per test kind, each
// running the binary the way the script does and returning the script's verdict.

// Kinds, in the order the script runs them.
var kinds = []string{"parse-fail", "parse-okay", "eval-fail", "eval-okay"}

// Verdicts. Everything except verdictPass and verdictDisabled is a failure. The script also
// reports fail-rcN (exit status N) and uses the same names.
const (
	verdictPass           = "pass"
	verdictDisabled       = "disabled"
	verdictExitOKDiff     = "exit-ok-diff"     // parse-fail/eval-fail: exit status 1, stderr differs
	verdictDiff           = "diff"             // parse-okay/eval-okay: stdout differs
	verdictPassStdoutOnly = "pass-stdout-only" // stdout matches, stderr differs
)

// suiteCase is one test of the suite: kind is parse-fail, parse-okay, eval-fail or eval-okay;
// name is the file name without .nix (e.g. "eval-okay-arithmetic").
type suiteCase struct {
	kind, name string
}

func (c suiteCase) key() string { return c.kind + " " + c.name }

// result is the outcome of one case.
type result struct {
	verdict string
	// detail explains a failure: exit status and stderr, or a diff of the compared file.
	detail string
	// hint is one line for known-failures.txt: the first error line of a failing run, or the
	// first line of output that differs.
	hint string
	// errLineMatch reports, for eval-fail, whether the first "error: <message>" line of stderr
	// equals the expected one.
	errLineMatch bool
}

func (r result) failed() bool { return r.verdict != verdictPass && r.verdict != verdictDisabled }

// runner runs cases inside work, a directory that holds the suite copied to work/lang.
type runner struct {
	work    string   // absolute, symlink-free: it is what the binary sees as $(pwd)
	argv    []string // binary and leading arguments, e.g. [/tmp/x/cairn instantiate]
	arg0    string   // argv[0] as the binary sees it (default argv[0])
	env     []string // environment shared by all cases
	timeout time.Duration
}

// baseEnv returns the script's environment: the caller's, plus the script's exports.
func baseEnv() []string {
	return append(os.Environ(),
		"TEST_VAR=foo",
		"NIX_REMOTE=dummy://",
		"NIX_STORE_DIR=/nix/store",
		"NIX_CONFIG=experimental-features = nix-command flakes\nshow-trace = true",
	)
}

// listCases returns the suite's cases per kind, in glob order, like `for f in lang/KIND-*.nix`.
func listCases(langDir string) ([]suiteCase, error) {
	var cases []suiteCase
	for _, k := range kinds {
		files, err := filepath.Glob(filepath.Join(langDir, k+"-*.nix"))
		if err != nil {
			return nil, fmt.Errorf("listing %s tests: %w", k, err)
		}
		for _, f := range files {
			cases = append(cases, suiteCase{k, strings.TrimSuffix(filepath.Base(f), ".nix")})
		}
	}
	return cases, nil
}

func (r *runner) lang(name string) string { return filepath.Join(r.work, "lang", name) }
func (r *runner) out(name string) string  { return filepath.Join(r.work, "out", name) }

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// run runs the binary with args in r.work. stdin is a file name or "", stdout a file name or ""
// (discarded, like > /dev/null); stderr always goes to the file errFile. It returns the exit
// status as bash reports it (128+signal for a killed process, 124 on timeout like timeout(1)).
func (r *runner) run(ctx context.Context, extraEnv []string, args []string, stdin, stdout, errFile string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.argv[0], append(append([]string{}, r.argv[1:]...), args...)...)
	if r.arg0 != "" {
		cmd.Args[0] = r.arg0
	}
	cmd.Dir = r.work
	cmd.Env = append(append([]string{}, r.env...), extraEnv...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	ef, err := os.Create(errFile)
	if err != nil {
		return 0, err
	}
	defer ef.Close()
	cmd.Stderr = ef
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return 124, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", r.argv[0], err)
	}
	return 0, nil
}

// pwdSubst replaces the working directory with /pwd in each file, like sed "s!$(pwd)!/pwd!g".
func (r *runner) pwdSubst(files ...string) error {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(f, bytes.ReplaceAll(b, []byte(r.work), []byte("/pwd")), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// postprocess runs lang/NAME.postprocess on out/NAME like the script's pp. Like the script, it
// ignores the hook's exit status.
func (r *runner) postprocess(ctx context.Context, name string) {
	pp := r.lang(name + ".postprocess")
	if !exists(pp) {
		return
	}
	cmd := exec.CommandContext(ctx, "bash", pp, r.out(name))
	cmd.Dir = r.work
	cmd.Env = r.env
	_ = cmd.Run()
}

// same compares file got with file want, where a missing want means got must be empty. It
// returns nil if they are equal, else a failure with verdict v, a diff and a hint.
func same(want, got, v string) *result {
	g, err := os.ReadFile(got)
	if err != nil {
		return &result{verdict: v, detail: err.Error(), hint: err.Error()}
	}
	w, err := os.ReadFile(want)
	if errors.Is(err, os.ErrNotExist) {
		if len(g) == 0 {
			return nil
		}
		w = nil
	} else if err != nil {
		return &result{verdict: v, detail: err.Error(), hint: err.Error()}
	} else if bytes.Equal(w, g) {
		return nil
	}
	d, line := lineDiff(string(w), string(g))
	return &result{
		verdict: v,
		detail:  fmt.Sprintf("%s vs %s:\n%s", filepath.Base(want), filepath.Base(got), d),
		hint:    "got " + line,
	}
}

// runCase runs one case and returns its verdict, following the script branch for its kind.
func (r *runner) runCase(ctx context.Context, c suiteCase) (result, error) {
	i := c.name
	nix := filepath.Join("lang", i+".nix")
	errf := r.out(i + ".err")
	switch c.kind {
	case "parse-fail":
		rc, err := r.run(ctx, nil, []string{"--parse", "-"}, r.lang(i+".nix"), "", errf)
		if err != nil {
			return result{}, err
		}
		if rc != 1 {
			return failRC(rc, errf), nil
		}
		r.postprocess(ctx, i)
		if f := same(r.lang(i+".err.exp"), errf, verdictExitOKDiff); f != nil {
			return *f, nil
		}
		return result{verdict: verdictPass}, nil

	case "parse-okay":
		outf := r.out(i + ".out")
		rc, err := r.run(ctx, nil, []string{"--parse", "-"}, r.lang(i+".nix"), outf, errf)
		if err != nil {
			return result{}, err
		}
		if rc != 0 {
			return failRC(rc, errf), nil
		}
		return r.compareOkay(ctx, i, outf, errf)

	case "eval-fail":
		args := []string{"--eval", "--strict", "--show-trace"}
		if b, err := os.ReadFile(r.lang(i + ".flags")); err == nil {
			args = evalFailFlags(string(b))
		}
		rc, err := r.run(ctx, nil, append(args, nix), "", "", errf)
		if err != nil {
			return result{}, err
		}
		if err := r.pwdSubst(errf); err != nil {
			return result{}, err
		}
		var res result
		if rc != 1 {
			res = failRC(rc, errf)
		} else {
			r.postprocess(ctx, i)
			res.verdict = verdictPass
			if f := same(r.lang(i+".err.exp"), errf, verdictExitOKDiff); f != nil {
				res = *f
			}
		}
		res.errLineMatch = errLineMatch(r.lang(i+".err.exp"), errf)
		return res, nil

	case "eval-okay":
		if exists(r.lang(i + ".exp.xml")) {
			outf := r.out(i + ".out.xml")
			rc, err := r.run(ctx, nil, []string{"--eval", "--xml", "--no-location", "--strict", nix}, "", outf, errf)
			if err != nil {
				return result{}, err
			}
			if rc != 0 {
				return failRC(rc, errf), nil
			}
			r.postprocess(ctx, i)
			if f := same(r.lang(i+".exp.xml"), outf, verdictDiff); f != nil {
				return *f, nil
			}
			return result{verdict: verdictPass}, nil
		}
		if exists(r.lang(i + ".exp-disabled")) {
			return result{verdict: verdictDisabled}, nil
		}
		var args []string
		if b, err := os.ReadFile(r.lang(i + ".flags")); err == nil {
			args = evalOkayFlags(string(b))
		}
		outf := r.out(i + ".out")
		env := []string{"NIX_PATH=lang/dir3:lang/dir4", "HOME=/fake-home"}
		rc, err := r.run(ctx, env, append(args, "--eval", "--strict", nix), "", outf, errf)
		if err != nil {
			return result{}, err
		}
		if rc != 0 {
			return failRC(rc, errf), nil
		}
		return r.compareOkay(ctx, i, outf, errf)
	}
	return result{}, fmt.Errorf("unknown test kind %q", c.kind)
}

// compareOkay is the tail shared by parse-okay and eval-okay: /pwd substitution, postprocess,
// then stdout against .exp and stderr against .err.exp.
func (r *runner) compareOkay(ctx context.Context, i, outf, errf string) (result, error) {
	if err := r.pwdSubst(outf, errf); err != nil {
		return result{}, err
	}
	r.postprocess(ctx, i)
	if f := same(r.lang(i+".exp"), outf, verdictDiff); f != nil {
		return *f, nil
	}
	if f := same(r.lang(i+".err.exp"), errf, verdictPassStdoutOnly); f != nil {
		return *f, nil
	}
	return result{verdict: verdictPass}, nil
}

func failRC(rc int, errf string) result {
	v := fmt.Sprintf("fail-rc%d", rc)
	if rc == 124 {
		v = "fail-rc124 (timeout)"
	}
	b, _ := os.ReadFile(errf)
	hint := firstErrorLine(string(b))
	if hint == "" {
		hint, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	}
	return result{verdict: v, detail: fmt.Sprintf("exit status %d, stderr:\n%s", rc, clip(string(b))), hint: hint}
}

// evalFailFlags splits an eval-fail .flags file like flags=$(sed -e 's/#.*//' < f); $NI $flags:
// comments are cut per line, then the rest is split on blanks and newlines.
func evalFailFlags(s string) []string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j] + "\n"
		}
		b.WriteString(line)
	}
	return strings.Fields(b.String())
}

// evalOkayFlags splits an eval-okay .flags file like read -r -a flags < f: only the first line,
// split on blanks, no comment handling.
func evalOkayFlags(s string) []string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.Fields(line)
}

// firstErrorLine returns the first line of s that, without its indentation, reads
// "error: <message>" (a bare "error:" that opens a trace does not count).
func firstErrorLine(s string) string {
	for line := range strings.Lines(s) {
		line = strings.TrimRight(strings.TrimLeft(line, " "), "\n")
		if msg, ok := strings.CutPrefix(line, "error: "); ok && strings.TrimSpace(msg) != "" {
			return line
		}
	}
	return ""
}

// errLineMatch reports whether the got file's first error line equals the expected file's.
func errLineMatch(want, got string) bool {
	w, err := os.ReadFile(want)
	if err != nil {
		return false
	}
	g, err := os.ReadFile(got)
	if err != nil {
		return false
	}
	return firstErrorLine(string(w)) == firstErrorLine(string(g))
}

// clip shortens s to its first lines for failure messages.
func clip(s string) string {
	const max = 12
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > max {
		return strings.Join(lines[:max], "") + fmt.Sprintf("[… %d more lines]\n", len(lines)-max)
	}
	return s
}

// lineDiff shows where want and got first differ, with a few lines of each from there. It
// also returns got's first differing line, quoted, or "<end of file>".
func lineDiff(want, got string) (string, string) {
	w := strings.SplitAfter(want, "\n")
	g := strings.SplitAfter(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	const ctx = 6
	line := "<end of file>"
	if i < len(g) && g[i] != "" {
		line = strconv.Quote(strings.TrimSuffix(g[i], "\n"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d\n", i+1)
	for _, side := range []struct {
		tag   string
		lines []string
	}{{"want", w}, {"got ", g}} {
		for j := i; j < len(side.lines) && j < i+ctx; j++ {
			fmt.Fprintf(&b, "%s| %q\n", side.tag, strings.TrimSuffix(side.lines[j], "\n"))
		}
		if i >= len(side.lines) || (i == len(side.lines)-1 && side.lines[i] == "") {
			fmt.Fprintf(&b, "%s| <end of file>\n", side.tag)
		}
	}
	return b.String(), line
}
