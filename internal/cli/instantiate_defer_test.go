package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/store/local"
)

// validityProbe is a stdout that, whenever the command writes to it,
// checks with a store of its own that every derivation printed so far is
// valid and knows its outputs.
type validityProbe struct {
	t    *testing.T
	root string
	buf  bytes.Buffer
	bad  []string
}

func (w *validityProbe) Write(b []byte) (int, error) {
	w.buf.Write(b)
	st, err := local.Open(context.Background(), local.Options{Root: w.root, ReservedSize: -1})
	if err != nil {
		w.t.Error(err)
		return len(b), nil
	}
	defer st.Close()
	for _, line := range strings.Fields(w.buf.String()) {
		p, err := st.ParsePath(line)
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", line, err))
			continue
		}
		if _, err := st.QueryPathInfo(context.Background(), p); err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", line, err))
			continue
		}
		if outs, err := st.QueryDerivationOutputs(context.Background(), p); err != nil || len(outs) == 0 {
			w.bad = append(w.bad, fmt.Sprintf("%s: derivation outputs %v, %v", line, outs, err))
		}
	}
	return len(b), nil
}

// TestInstantiateDerivationsValidWhenPrinted: instantiate writes the .drv
// rows of a graph in one transaction (AddTextDeferred), but every path it
// prints is valid by the time the output reaches stdout, before the
// store is closed; the dependencies too.
func TestInstantiateDerivationsValidWhenPrinted(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "root")
	nix := `let leaf = i: derivation { name = "leaf-${toString i}"; system = "x86_64-linux"; builder = "/bin/sh"; };
	in { a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; deps = map leaf [ 1 2 3 ]; };
	     b = leaf 4; }`
	if err := os.WriteFile(filepath.Join(work, "d.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := &validityProbe{t: t, root: root}
	var errb bytes.Buffer
	f := &Factory{Stdin: strings.NewReader(""), Stdout: probe, Stderr: &errb, Dir: work, Prog: "cairn"}
	code := run(t.Context(), f, []string{"cairn", "instantiate", "--store", root, "d.nix"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if lines := strings.Fields(probe.buf.String()); len(lines) != 2 {
		t.Fatalf("printed %q, want 2 derivations", probe.buf.String())
	}
	if len(probe.bad) > 0 {
		t.Errorf("printed before valid:\n%s", strings.Join(probe.bad, "\n"))
	}
	st, err := local.Open(t.Context(), local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	paths, err := st.QueryValidPaths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 5 {
		t.Errorf("%d valid paths, want the 5 derivations: %v", len(paths), paths)
	}
}

// TestInstantiateReadsDerivationItMade: the .drv files of instantiate
// are written in the background, but evaluation that reads or looks for
// one it has just made finds it, contents and all.
func TestInstantiateReadsDerivationItMade(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "root")
	nix := `let d = derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; };
	         p = builtins.unsafeDiscardStringContext d.drvPath;
	in derivation { name = "user"; system = "x86_64-linux"; builder = "/bin/sh";
	     seen = builtins.pathExists p; text = builtins.readFile p; }`
	if err := os.WriteFile(filepath.Join(work, "r.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	f := &Factory{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Dir: work, Prog: "cairn"}
	if code := run(t.Context(), f, []string{"cairn", "instantiate", "--store", root, "r.nix"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := local.Open(t.Context(), local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ParsePath(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.ReadDerivation(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Env["seen"] != "1" || !strings.HasPrefix(d.Env["text"], "Derive([") {
		t.Errorf("the evaluation did not find the .drv it made: seen %q, text %q", d.Env["seen"], d.Env["text"])
	}
}
