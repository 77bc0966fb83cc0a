package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// PathInfoOptions are the flags of `cairn path-info` (Nix 2.8's
// `nix path-info`).
type PathInfoOptions struct {
	F     *Factory
	Store StoreFlags

	JSON          bool
	Recursive     bool // -r: the closures of the paths
	Size          bool // -s
	ClosureSize   bool // -S
	HumanReadable bool // -h
	Sigs          bool
	All           bool
	Paths         []string
}

func newPathInfoCmd(f *Factory, runF func(*PathInfoOptions) error) func([]string) error {
	return func(args []string) error {
		o := &PathInfoOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			switch arg {
			case "--json":
				o.JSON = true
			case "--recursive":
				o.Recursive = true
			case "--size":
				o.Size = true
			case "--closure-size":
				o.ClosureSize = true
			case "--human-readable":
				o.HumanReadable = true
			case "--sigs":
				o.Sigs = true
			case "--all":
				o.All = true
			default:
				if len(arg) > 1 && arg[0] == '-' && arg[1] != '-' && strings.Trim(arg[1:], "rsSh") == "" {
					for _, c := range arg[1:] {
						switch c {
						case 'r':
							o.Recursive = true
						case 's':
							o.Size = true
						case 'S':
							o.ClosureSize = true
						case 'h':
							o.HumanReadable = true
						}
					}
					continue
				}
				if err := storeArg(s, arg, &o.Store, &o.Paths); err != nil {
					return err
				}
			}
		}
		if o.All && len(o.Paths) > 0 {
			return &usageError{f.Prog, "'--all' does not expect arguments"}
		}
		return runF(o)
	}
}

func runPathInfo(ctx context.Context, o *PathInfoOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		var roots []storepath.Path
		var err error
		if o.All {
			if roots, err = st.QueryValidPaths(ctx); err != nil {
				return err
			}
		} else if o.JSON && !o.Recursive {
			// Nix lists invalid paths as {"path":…,"valid":false}.
			for _, a := range o.Paths {
				p, err := storePathArg(o.F, st.Dir(), a)
				if err != nil {
					return err
				}
				roots = append(roots, p)
			}
		} else if roots, err = validStorePaths(ctx, o.F, st, o.Paths); err != nil {
			return err
		}
		paths := store.SortPaths(roots)
		if o.Recursive {
			if paths, err = store.Closure(ctx, st, paths, store.ClosureOptions{}); err != nil {
				return err
			}
		}
		infos := map[storepath.Path]*store.PathInfo{}
		info := func(p storepath.Path) (*store.PathInfo, error) {
			if i, ok := infos[p]; ok {
				return i, nil
			}
			i, err := st.QueryPathInfo(ctx, p)
			if err != nil {
				return nil, err
			}
			infos[p] = i
			return i, nil
		}
		closureSize := func(p storepath.Path) (uint64, error) {
			cl, err := store.Closure(ctx, st, []storepath.Path{p}, store.ClosureOptions{})
			if err != nil {
				return 0, err
			}
			var n uint64
			for _, q := range cl {
				i, err := info(q)
				if err != nil {
					return 0, err
				}
				n += i.NarSize
			}
			return n, nil
		}
		if o.JSON {
			return writePathInfoJSON(out, st, paths, o.ClosureSize, info, closureSize)
		}
		// Nix prints the paths in reverse topological order
		// (dependencies first).
		order, err := postorder(paths, func(p storepath.Path) ([]storepath.Path, error) {
			i, err := info(p)
			if err != nil {
				return nil, err
			}
			return i.References, nil
		})
		if err != nil {
			return err
		}
		width := 0
		for _, p := range order {
			width = max(width, len(st.Dir().Print(p)))
		}
		for _, p := range order {
			i, err := info(p)
			if err != nil {
				return err
			}
			ps := st.Dir().Print(p)
			out.WriteString(ps)
			if o.Size || o.ClosureSize || o.Sigs {
				out.WriteString(strings.Repeat(" ", width-len(ps)))
			}
			if o.Size {
				out.WriteString(formatSize(i.NarSize, o.HumanReadable))
			}
			if o.ClosureSize {
				n, err := closureSize(p)
				if err != nil {
					return err
				}
				out.WriteString(formatSize(n, o.HumanReadable))
			}
			if o.Sigs {
				var ss []string
				if i.Ultimate {
					ss = append(ss, "ultimate")
				}
				if i.HasCA() {
					ss = append(ss, "ca:"+i.CA.String())
				}
				ss = append(ss, i.Signatures...)
				out.WriteString("\t" + strings.Join(ss, " "))
			}
			out.WriteByte('\n')
		}
		return nil
	})
}

// postorder returns paths in depth-first post-order over refs (each path
// after the paths of the set it refers to), visiting paths and their
// references in sorted order: Nix's topoSortPaths, reversed.
func postorder(paths []storepath.Path, refs func(storepath.Path) ([]storepath.Path, error)) ([]storepath.Path, error) {
	in := map[storepath.Path]bool{}
	for _, p := range paths {
		in[p] = true
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[storepath.Path]int{}
	var out []storepath.Path
	var visit func(p, parent storepath.Path) error
	visit = func(p, parent storepath.Path) error {
		switch state[p] {
		case visiting:
			return &store.CycleError{Path: p, Parent: parent}
		case done:
			return nil
		}
		state[p] = visiting
		rs, err := refs(p)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r != p && in[r] {
				if err := visit(r, p); err != nil {
					return err
				}
			}
		}
		state[p] = done
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if err := visit(p, storepath.Path{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// formatSize is nix path-info's printSize: a tab, then the size right
// aligned in 11 columns, or with -h as "%6.1f" and a unit letter.
func formatSize(n uint64, human bool) string {
	if !human {
		return fmt.Sprintf("\t%11d", n)
	}
	const units = " KMGTPEZY"
	power := 0
	v := float64(n)
	for v > 1024 && power < len(units)-1 {
		power++
		v /= 1024
	}
	return fmt.Sprintf("\t%6.1f%c", v, units[power])
}

// writePathInfoJSON prints Nix 2.8's `nix path-info --json`: a list
// sorted by path, with no final newline.
func writePathInfoJSON(out *bufio.Writer, st *local.Store, paths []storepath.Path, showClosure bool,
	info func(storepath.Path) (*store.PathInfo, error), closureSize func(storepath.Path) (uint64, error)) error {
	b := []byte{'['}
	for k, p := range paths {
		if k > 0 {
			b = append(b, ',')
		}
		i, err := info(p)
		if errors.Is(err, store.ErrNotValid) {
			b = append(b, `{"path":`...)
			b = jsonString(b, st.Dir().Print(p))
			b = append(b, `,"valid":false}`...)
			continue
		}
		if err != nil {
			return err
		}
		b = append(b, `{"path":`...)
		b = jsonString(b, st.Dir().Print(p))
		b = append(b, `,"narHash":`...)
		b = jsonString(b, i.NarHash.Encode(nixhash.SRI, true))
		b = append(b, `,"narSize":`...)
		b = strconv.AppendUint(b, i.NarSize, 10)
		b = append(b, `,"references":[`...)
		for j, r := range i.References {
			if j > 0 {
				b = append(b, ',')
			}
			b = jsonString(b, st.Dir().Print(r))
		}
		b = append(b, ']')
		if i.HasCA() {
			b = append(b, `,"ca":`...)
			b = jsonString(b, i.CA.String())
		}
		if showClosure {
			n, err := closureSize(p)
			if err != nil {
				return err
			}
			b = append(b, `,"closureSize":`...)
			b = strconv.AppendUint(b, n, 10)
		}
		if !i.Deriver.IsZero() {
			b = append(b, `,"deriver":`...)
			b = jsonString(b, st.Dir().Print(i.Deriver))
		}
		if !i.RegistrationTime.IsZero() {
			b = append(b, `,"registrationTime":`...)
			b = strconv.AppendInt(b, i.RegistrationTime.Unix(), 10)
		}
		if i.Ultimate {
			b = append(b, `,"ultimate":true`...)
		}
		if len(i.Signatures) > 0 {
			b = append(b, `,"signatures":[`...)
			for j, s := range i.Signatures {
				if j > 0 {
					b = append(b, ',')
				}
				b = jsonString(b, s)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	_, err := out.Write(b)
	return err
}
