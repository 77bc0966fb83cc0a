package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// WhyDependsOptions are the flags of `cairn why-depends` (Nix 2.8's
// `nix why-depends`, which has no --json).
type WhyDependsOptions struct {
	F       *Factory
	Store   StoreFlags
	All     bool // --all / -a: every edge on a path to the dependency
	Precise bool // --precise: the files (and text) that cause each edge
	Package string
	Dep     string
}

func newWhyDependsCmd(f *Factory, runF func(*WhyDependsOptions) error) func([]string) error {
	return func(args []string) error {
		o := &WhyDependsOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			switch arg {
			case "--all", "-a":
				o.All = true
			case "--precise":
				o.Precise = true
			default:
				if err := storeArg(s, arg, &o.Store, &pos); err != nil {
					return err
				}
			}
		}
		if len(pos) != 2 {
			return &usageError{f.Prog, "expected a package and a dependency"}
		}
		o.Package, o.Dep = pos[0], pos[1]
		return runF(o)
	}
}

const (
	ansiNormal = "\x1b[0m"
	ansiGreen  = "\x1b[32;1m"
	ansiBlue   = "\x1b[34;1m"
	ansiGrey   = "\x1b[38;5;244m"
	treeConn   = "├───"
	treeLast   = "└───"
	treeLine   = "│   "
	treeNull   = "    "
)

type wdNode struct {
	path    storepath.Path
	refs    []storepath.Path
	rrefs   []storepath.Path
	dist    int // -1: infinite
	visited bool
}

func runWhyDepends(ctx context.Context, o *WhyDependsOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		ps, err := validStorePaths(ctx, o.F, st, []string{o.Package, o.Dep})
		if err != nil {
			return err
		}
		pkg, dep := ps[0], ps[1]
		closure, err := store.Closure(ctx, st, []storepath.Path{pkg}, store.ClosureOptions{})
		if err != nil {
			return err
		}
		dir := st.Dir()
		graph := map[storepath.Path]*wdNode{}
		for _, p := range closure {
			info, err := st.QueryPathInfo(ctx, p)
			if err != nil {
				return err
			}
			graph[p] = &wdNode{path: p, refs: info.References, dist: -1}
		}
		if graph[dep] == nil {
			fmt.Fprintf(o.F.Stderr, "'%s' does not depend on '%s'\n", dir.Print(pkg), dir.Print(dep))
			return nil
		}
		for _, p := range closure {
			for _, r := range graph[p].refs {
				graph[r].rrefs = append(graph[r].rrefs, p)
			}
		}
		// Distances to dep over referrers (breadth first).
		graph[dep].dist = 0
		queue := []*wdNode{graph[dep]}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, r := range n.rrefs {
				if m := graph[r]; m.dist < 0 {
					m.dist = n.dist + 1
					queue = append(queue, m)
				}
			}
		}
		w := &whyDepends{o: o, st: st, acc: &storeAccessor{ctx, st}, graph: graph, pkg: pkg, dep: dep, out: out}
		if !o.Precise {
			fmt.Fprintf(out, "%s\n", dir.Print(pkg))
		}
		err = w.printNode(graph[pkg], "", "")
		if errors.Is(err, errBailOut) {
			err = nil
		}
		return err
	})
}

var errBailOut = errors.New("bail out")

type whyDepends struct {
	o        *WhyDependsOptions
	st       *local.Store
	acc      accessor
	graph    map[storepath.Path]*wdNode
	pkg, dep storepath.Path
	out      io.Writer
}

// printNode is Nix's printNode: node, then for each reference that leads
// to the dependency (nearest first) the edge and its subtree.
func (w *whyDepends) printNode(n *wdNode, firstPad, tailPad string) error {
	dir := w.st.Dir()
	ps := dir.Print(n.path)
	if w.o.Precise {
		grey, arrow := "", ""
		if n.visited {
			grey = ansiGrey
		}
		if firstPad != "" {
			arrow = "→ "
		}
		fmt.Fprintf(w.out, "%s%s%s%s%s\n", firstPad, grey, arrow, ps, ansiNormal)
	}
	if n.path == w.dep && !w.o.All && w.pkg != w.dep {
		return errBailOut
	}
	if n.visited {
		return nil
	}
	if w.o.Precise {
		n.visited = true
	}
	var refs []*wdNode
	hashes := map[string]bool{}
	for _, r := range n.refs {
		if r == n.path && w.pkg != w.dep {
			continue
		}
		m := w.graph[r]
		if m.dist < 0 {
			continue
		}
		refs = append(refs, m)
		hashes[r.HashPart()] = true
	}
	// Stable: ties keep the sorted order of the references.
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].dist < refs[j].dist })

	hits := map[string][]string{}
	if w.o.Precise {
		if err := w.visitPath(ps, ps, sortedStrings(hashes), hits); err != nil {
			return err
		}
	}
	for k, m := range refs {
		hash := m.path.HashPart()
		last := !w.o.All || k == len(refs)-1
		for i, hit := range hits[hash] {
			var pre string
			switch {
			case i == 0 && last:
				pre = treeLast
			case i == 0:
				pre = treeConn
			case last:
				pre = treeNull
			default:
				pre = treeLine
			}
			fmt.Fprintf(w.out, "%s%s%s", tailPad, pre, hit)
			if !w.o.All {
				break
			}
		}
		if !w.o.Precise {
			grey, tree := "", treeConn
			if m.visited {
				grey = ansiGrey
			}
			if last {
				tree = treeLast
			}
			fmt.Fprintf(w.out, "%s%s%s%s%s\n", firstPad, grey, tree, dir.Print(m.path), ansiNormal)
			n.visited = true
		}
		pad := treeLine
		if last {
			pad = treeNull
		}
		if err := w.printNode(m, tailPad+pad, tailPad+pad); err != nil {
			return err
		}
	}
	return nil
}

// visitPath finds, in every file and symlink under p, the first
// occurrence of each hash, and records a snippet for it.
func (w *whyDepends) visitPath(root, p string, hashes []string, hits map[string][]string) error {
	st, err := w.acc.stat(p)
	if err != nil {
		return err
	}
	rel := "/"
	if p != root {
		rel = p[len(root)+1:]
	}
	colour := func(h string) string {
		if h == w.dep.HashPart() {
			return ansiGreen
		}
		return ansiBlue
	}
	switch st.typ {
	case nar.TypeDirectory:
		names, err := w.acc.readDir(p)
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := w.visitPath(root, p+"/"+name, hashes, hits); err != nil {
				return err
			}
		}
	case nar.TypeRegular:
		data, err := w.acc.readFile(p)
		if err != nil {
			return err
		}
		for _, h := range hashes {
			pos := bytes.Index(data, []byte(h))
			if pos < 0 {
				continue
			}
			const margin = 32
			pos2 := max(pos-margin, 0)
			end := min(pos+len(h)+margin, len(data))
			snippet := filterPrintable(data[pos2:end])
			hits[h] = append(hits[h], fmt.Sprintf("%s: …%s…\n", rel, hilite(snippet, pos-pos2, len(h), colour(h))))
		}
	case nar.TypeSymlink:
		target, err := w.acc.readLink(p)
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if pos := strings.Index(target, h); pos >= 0 {
				hits[h] = append(hits[h], fmt.Sprintf("%s -> %s\n", rel, hilite(target, pos, len(h), colour(h))))
			}
		}
	}
	return nil
}

func hilite(s string, pos, n int, colour string) string {
	return s[:pos] + colour + s[pos:pos+n] + ansiNormal + s[pos+n:]
}

// filterPrintable replaces every byte that is not printable ASCII by '.'.
func filterPrintable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}
