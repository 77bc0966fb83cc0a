package parser_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// TestNixpkgsAgainstNix28 parses every n-th file of $CAIRN_NIXPKGS with
// both parsers and compares the trees after normalising away the known
// differences between Nix 2.8's and current Nix's printers (attribute
// and formals order, inherit layout, `\$` escapes, empty string parts):
// both printed forms are parsed again by us, normalised and printed.
// CAIRN_NIXPKGS_EVERY selects n (default 10).
func TestNixpkgsAgainstNix28(t *testing.T) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" || os.Getenv("CAIRN_NIXPKGS_DIFF") == "" {
		t.Skip("SKIPPING: set CAIRN_NIXPKGS and CAIRN_NIXPKGS_DIFF=1 to compare with nix-instantiate --parse")
	}
	ni, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Fatal(err)
	}
	every, _ := strconv.Atoi(os.Getenv("CAIRN_NIXPKGS_EVERY"))
	if every <= 0 {
		every = 10
	}
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".nix" {
			files = append(files, p)
		}
		return nil
	})
	same, diff, bothFail := 0, 0, 0
	for i := 0; i < len(files); i += every {
		f := files[i]
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opts := parser.Options{BaseDir: filepath.Dir(f), HomeDir: "/fake-home"}
		cmd := exec.Command(ni, "--parse", f)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root=/tmp/nixdiff-store", "HOME=/fake-home")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		nixErr := cmd.Run()
		e, ourErr := parser.ParseFile(token.NewFileSet(), f, src, opts)
		switch {
		case nixErr != nil && ourErr != nil:
			bothFail++
			continue
		case nixErr != nil:
			diff++
			t.Errorf("%s: nix fails, we parse: %s", f, stderr.String())
			continue
		case ourErr != nil:
			diff++
			t.Errorf("%s: we fail, nix parses: %v", f, ourErr)
			continue
		}
		ours := normalised(t, ast.Show(e), opts)
		theirs := normalised(t, stdout.String(), opts)
		if ours == theirs {
			same++
			continue
		}
		diff++
		a, b := ours, theirs
		k := 0
		for k < len(a) && k < len(b) && a[k] == b[k] {
			k++
		}
		lo := max(0, k-200)
		t.Errorf("%s differs at %d:\nours: ...%s\nnix:  ...%s", f, k, a[lo:min(len(a), k+200)], b[lo:min(len(b), k+200)])
	}
	t.Logf("%d same, %d different, %d fail in both", same, diff, bothFail)
}

func normalised(t *testing.T, printed string, opts parser.Options) string {
	e, err := parser.ParseFile(token.NewFileSet(), "printed", []byte(printed), opts)
	if err != nil {
		return "UNPARSEABLE: " + err.Error()
	}
	return ast.Show(normalise(e))
}

// normalise rewrites e so that trees printed by Nix 2.8 and by current
// Nix compare equal: `inherit (e) x` becomes `x = (e).x`, string
// concatenations are flattened, empty string parts dropped and single
// parts unwrapped.
func normalise(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.ConcatStrings:
		var parts []ast.StrPart
		var flat func(c *ast.ConcatStrings)
		flat = func(c *ast.ConcatStrings) {
			for _, p := range c.Parts {
				n := normalise(p.X)
				if cs, ok := n.(*ast.ConcatStrings); ok {
					flat(cs)
					continue
				}
				if s, ok := n.(*ast.String); ok && s.Value == "" {
					continue
				}
				parts = append(parts, ast.StrPart{X: n})
			}
		}
		flat(x)
		if len(parts) == 1 {
			return parts[0].X
		}
		if len(parts) == 0 {
			return &ast.String{}
		}
		return &ast.ConcatStrings{Parts: parts}
	case *ast.Attrs:
		normAttrs(x)
	case *ast.Let:
		normAttrs(x.Attrs)
		x.Body = normalise(x.Body)
	case *ast.Select:
		x.X = normalise(x.X)
		normPath(x.Path)
		if x.Default != nil {
			x.Default = normalise(x.Default)
		}
	case *ast.HasAttr:
		x.X = normalise(x.X)
		normPath(x.Path)
	case *ast.List:
		for i := range x.Elems {
			x.Elems[i] = normalise(x.Elems[i])
		}
	case *ast.Lambda:
		if x.Formals != nil {
			for i := range x.Formals.List {
				if x.Formals.List[i].Default != nil {
					x.Formals.List[i].Default = normalise(x.Formals.List[i].Default)
				}
			}
		}
		x.Body = normalise(x.Body)
	case *ast.Call:
		x.Fn = normalise(x.Fn)
		for i := range x.Args {
			x.Args[i] = normalise(x.Args[i])
		}
	case *ast.With:
		x.Env, x.Body = normalise(x.Env), normalise(x.Body)
	case *ast.If:
		x.Cond, x.Then, x.Else = normalise(x.Cond), normalise(x.Then), normalise(x.Else)
	case *ast.Assert:
		x.Cond, x.Body = normalise(x.Cond), normalise(x.Body)
	case *ast.Not:
		x.X = normalise(x.X)
	case *ast.Binary:
		x.X, x.Y = normalise(x.X), normalise(x.Y)
	}
	return e
}

func normPath(p []ast.AttrName) {
	for i := range p {
		if p[i].Expr != nil {
			n := normalise(p[i].Expr)
			if s, ok := n.(*ast.String); ok {
				p[i] = ast.AttrName{Name: s.Value}
			} else {
				p[i].Expr = n
			}
		}
	}
}

func normAttrs(a *ast.Attrs) {
	for _, d := range a.Attrs {
		if d.Kind == ast.InheritedFrom {
			sel := d.Value.(*ast.Select)
			from := sel.X.(*ast.InheritFrom)
			d.Value = &ast.Select{X: a.InheritFrom[from.Index], Path: sel.Path}
			d.Kind = ast.Plain
		}
		d.Value = normalise(d.Value)
	}
	for i := range a.Dynamic {
		a.Dynamic[i].NameExpr = normalise(a.Dynamic[i].NameExpr)
		a.Dynamic[i].Value = normalise(a.Dynamic[i].Value)
	}
}
