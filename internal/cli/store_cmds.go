package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

func storeSubcommands() []subcommand {
	return []subcommand{
		{"add", "add a file or directory to the store (nix store add)", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreAddCmd(f, "nar", func(o *StoreAddOptions) error { return runStoreAdd(ctx, o) })(args)
		}},
		{"add-path", "add a path to the store, NAR-hashed (nix store add-path)", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreAddCmd(f, "nar", func(o *StoreAddOptions) error { return runStoreAdd(ctx, o) })(args)
		}},
		{"add-file", "add a regular file to the store, flat-hashed (nix store add-file)", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreAddCmd(f, "flat", func(o *StoreAddOptions) error { return runStoreAdd(ctx, o) })(args)
		}},
		{"cat", "print the contents of a file in the store", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreCatCmd(f, func(o *StoreCatOptions) error { return runStoreCat(ctx, o) })(args)
		}},
		{"ls", "show information about a path in the store", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreLsCmd(f, func(o *StoreLsOptions) error { return runStoreLs(ctx, o) })(args)
		}},
		{"dump-path", "write the NAR serialisation of store paths to standard output", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreDumpPathCmd(f, func(o *StoreDumpPathOptions) error { return runStoreDumpPath(ctx, o) })(args)
		}},
		{"delete", "delete paths from the store, refusing live ones", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreDeleteCmd(f, func(o *StoreDeleteOptions) error { return runStoreDelete(ctx, o) })(args)
		}},
		{"gc", "delete unreachable paths (garbage collection)", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreGCCmd(f, func(o *StoreGCOptions) error { return runStoreGC(ctx, o) })(args)
		}},
		{"optimise", "hard-link identical files in the store", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreOptimiseCmd(f, func(o *StoreOptimiseOptions) error { return runStoreOptimise(ctx, o) })(args)
		}},
		{"diff-closures", "show version and size changes between two closures", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreDiffClosuresCmd(f, func(o *StoreDiffClosuresOptions) error { return runStoreDiffClosures(ctx, o) })(args)
		}},
		{"verify", "check store paths for corruption and trust", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreVerifyCmd(f, func(o *StoreVerifyOptions) error { return runStoreVerify(ctx, o) })(args)
		}},
		{"sign", "sign store paths with a secret key", func(ctx context.Context, f *Factory, args []string) error {
			return newStoreSignCmd(f, func(o *StoreSignOptions) error { return runStoreSign(ctx, o) })(args)
		}},
	}
}

// StoreAddOptions are the flags of `cairn store add` (also add-path and
// add-file, which differ only in the default mode).
type StoreAddOptions struct {
	F     *Factory
	Store StoreFlags

	Mode   string // flat, nar or text
	Name   string // --name / -n; default the base name of Path
	Algo   string // --hash-algo; default sha256
	DryRun bool
	Paths  []string // one or more; --name needs exactly one
}

func newStoreAddCmd(f *Factory, mode string, runF func(*StoreAddOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreAddOptions{F: f, Mode: mode, Algo: "sha256"}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--mode":
				o.Mode, err = s.value(arg)
			case "--name", "-n":
				o.Name, err = s.value(arg)
			case "--hash-algo":
				o.Algo, err = s.value(arg)
			case "--dry-run":
				o.DryRun = true
			default:
				err = storeArg(s, arg, &o.Store, &pos)
			}
			if err != nil {
				return err
			}
		}
		switch o.Mode {
		case "flat", "nar", "text":
		default:
			return &usageError{f.Prog, fmt.Sprintf("unknown file ingestion method '%s' (want flat, nar or text)", o.Mode)}
		}
		if len(pos) == 0 {
			return &usageError{f.Prog, "expected a path to add"}
		}
		if len(pos) > 1 && o.Name != "" {
			return &usageError{f.Prog, "flag '--name' needs exactly one path to add"}
		}
		o.Paths = pos
		return runF(o)
	}
}

// runStoreAdd adds each path in turn through one open store, printing
// each store path as it is added (Nix's add commands take one path; a
// list saves a process and a database open per path).
func runStoreAdd(ctx context.Context, o *StoreAddOptions) error {
	f := o.F
	algo, err := nixhash.ParseAlgo(o.Algo)
	if err != nil {
		return err
	}
	if o.Mode == "text" && algo != nixhash.SHA256 {
		return fmt.Errorf("text ingestion needs sha256, not %s", algo)
	}
	return withStore(ctx, f, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		for _, a := range o.Paths {
			sp, err := storeAddOne(ctx, st, o, a, algo)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(out, st.Dir().Print(sp)); err != nil {
				return err
			}
		}
		return nil
	})
}

func storeAddOne(ctx context.Context, st *local.Store, o *StoreAddOptions, arg string, algo nixhash.Algo) (storepath.Path, error) {
	p, err := o.F.abs(arg)
	if err != nil {
		return storepath.Path{}, err
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(p)
	}
	if o.DryRun {
		return computeAddPath(st.Dir(), p, name, o.Mode, algo)
	}
	switch o.Mode {
	case "text":
		data, err := readRegular(p)
		if err != nil {
			return storepath.Path{}, err
		}
		info, err := st.AddText(ctx, name, data, nil)
		if err != nil {
			return storepath.Path{}, err
		}
		return info.Path, nil
	case "flat":
		// Nix 2.8 (add-file, nix-store --add-fixed) imports the
		// file's NAR, so an executable file stays executable.
		return addFileNAR(ctx, st, p, name, algo)
	default:
		info, err := st.AddPath(ctx, p, local.AddOptions{Name: name, Method: storepath.Recursive, Algo: algo})
		if err != nil {
			return storepath.Path{}, err
		}
		return info.Path, nil
	}
}

// addFileNAR adds the regular file p flat-hashed, importing its NAR so
// that an executable file stays executable (Nix 2.8's add-file).
func addFileNAR(ctx context.Context, st *local.Store, p, name string, algo nixhash.Algo) (storepath.Path, error) {
	data, err := readRegular(p)
	if err != nil {
		return storepath.Path{}, err
	}
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, p); err != nil {
		return storepath.Path{}, err
	}
	ca := storepath.ContentAddress{Method: storepath.Flat, Hash: nixhash.Sum(algo, data)}
	sp, err := st.Dir().MakeFixedOutputPath(name, storepath.Flat, ca.Hash, nil, false)
	if err != nil {
		return storepath.Path{}, err
	}
	info := &store.PathInfo{Path: sp, NarHash: nixhash.Sum(nixhash.SHA256, buf.Bytes()), NarSize: uint64(buf.Len()), CA: ca}
	return sp, st.AddNar(ctx, info, &buf)
}

// readRegular reads p, which must be a regular file.
func readRegular(p string) ([]byte, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("'%s' is not a regular file", p)
	}
	return os.ReadFile(p)
}

// computeAddPath computes the path `store add` would create, writing
// nothing.
func computeAddPath(dir storepath.Dir, p, name, mode string, algo nixhash.Algo) (storepath.Path, error) {
	switch mode {
	case "text":
		data, err := readRegular(p)
		if err != nil {
			return storepath.Path{}, err
		}
		return dir.ComputeTextPath(name, data, nil)
	case "flat":
		data, err := readRegular(p)
		if err != nil {
			return storepath.Path{}, err
		}
		return dir.MakeFixedOutputPath(name, storepath.Flat, nixhash.Sum(algo, data), nil, false)
	}
	h := nixhash.NewHasher(algo)
	if err := nar.DumpPath(h, p); err != nil {
		return storepath.Path{}, err
	}
	return dir.MakeFixedOutputPath(name, storepath.Recursive, h.Sum(), nil, false)
}

// StoreCatOptions are the flags of `cairn store cat`.
type StoreCatOptions struct {
	F     *Factory
	Store StoreFlags
	Path  string
}

func newStoreCatCmd(f *Factory, runF func(*StoreCatOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreCatOptions{F: f}
		pos, err := parseStoreArgs(f, args, &o.Store)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &usageError{f.Prog, "expected exactly one path"}
		}
		o.Path = pos[0]
		return runF(o)
	}
}

// parseStoreArgs parses a command line of common store flags and
// positional arguments.
func parseStoreArgs(f *Factory, args []string, c *StoreFlags) ([]string, error) {
	s := &argScanner{prog: f.Prog, args: args}
	var pos []string
	for s.more() {
		if err := storeArg(s, s.next(), c, &pos); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

func runStoreCat(ctx context.Context, o *StoreCatOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		p, err := storeFileArg(o.F, st, o.Path)
		if err != nil {
			return err
		}
		return catFile(&storeAccessor{ctx, st}, p, out)
	})
}

// storeFileArg makes arg an absolute logical path inside the store.
func storeFileArg(f *Factory, st *local.Store, arg string) (string, error) {
	sp, rest, err := storeSubPath(f, st.Dir(), arg)
	if err != nil {
		return "", err
	}
	if rest == "/" {
		rest = ""
	}
	return st.Dir().Print(sp) + rest, nil
}

// StoreLsOptions are the flags of `cairn store ls`.
type StoreLsOptions struct {
	F     *Factory
	Store StoreFlags
	Ls    LsFlags
	Path  string
}

func newStoreLsCmd(f *Factory, runF func(*StoreLsOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreLsOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			if parseLsFlag(arg, &o.Ls) {
				continue
			}
			if err := storeArg(s, arg, &o.Store, &pos); err != nil {
				return err
			}
		}
		if len(pos) != 1 {
			return &usageError{f.Prog, "expected exactly one path"}
		}
		o.Path = pos[0]
		return runF(o)
	}
}

func runStoreLs(ctx context.Context, o *StoreLsOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		p, err := storeFileArg(o.F, st, o.Path)
		if err != nil {
			return err
		}
		return list(&storeAccessor{ctx, st}, p, o.Ls, out)
	})
}

// StoreDumpPathOptions are the flags of `cairn store dump-path`.
type StoreDumpPathOptions struct {
	F     *Factory
	Store StoreFlags
	Paths []string
}

func newStoreDumpPathCmd(f *Factory, runF func(*StoreDumpPathOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreDumpPathOptions{F: f}
		var err error
		if o.Paths, err = parseStoreArgs(f, args, &o.Store); err != nil {
			return err
		}
		if len(o.Paths) == 0 {
			return &usageError{f.Prog, "expected a store path"}
		}
		return runF(o)
	}
}

func runStoreDumpPath(ctx context.Context, o *StoreDumpPathOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		paths, err := validStorePaths(ctx, o.F, st, o.Paths)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if err := st.NarFromPath(ctx, p, out); err != nil {
				return err
			}
		}
		return nil
	})
}

// StoreDeleteOptions are the flags of `cairn store delete`.
type StoreDeleteOptions struct {
	F              *Factory
	Store          StoreFlags
	IgnoreLiveness bool
	Paths          []string
}

func newStoreDeleteCmd(f *Factory, runF func(*StoreDeleteOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreDeleteOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if arg == "--ignore-liveness" {
				o.IgnoreLiveness = true
				continue
			}
			if err := storeArg(s, arg, &o.Store, &o.Paths); err != nil {
				return err
			}
		}
		if len(o.Paths) == 0 {
			return &usageError{f.Prog, "expected store paths to delete"}
		}
		return runF(o)
	}
}

func runStoreDelete(ctx context.Context, o *StoreDeleteOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		var paths []storepath.Path
		for _, a := range o.Paths {
			p, err := storePathArg(o.F, st.Dir(), a)
			if err != nil {
				return err
			}
			paths = append(paths, p)
		}
		res, err := st.CollectGarbage(ctx, local.GCOptions{
			Action: local.GCDeleteSpecific, Paths: paths, IgnoreLiveness: o.IgnoreLiveness,
		})
		printDeleted(o.F.Stderr, res)
		printFreed(out, res)
		return err
	})
}

func printDeleted(w io.Writer, res *local.GCResult) {
	if res == nil {
		return
	}
	for _, p := range res.Paths {
		fmt.Fprintf(w, "deleting '%s'\n", p)
	}
}

// printFreed prints Nix's summary line (PrintFreed).
func printFreed(w io.Writer, res *local.GCResult) {
	var n int
	var freed uint64
	if res != nil {
		n, freed = len(res.Paths), res.BytesFreed
	}
	fmt.Fprintf(w, "%d store paths deleted, %s freed\n", n, showBytes(freed))
}

// showBytes is Nix's showBytes: mebibytes with two decimals.
func showBytes(n uint64) string {
	return fmt.Sprintf("%.2f MiB", float64(n)/(1024*1024))
}

// StoreGCOptions are the flags of `cairn store gc`.
type StoreGCOptions struct {
	F      *Factory
	Store  StoreFlags
	DryRun bool
	Max    uint64 // --max: stop after freeing this many bytes (0: no limit)
}

func newStoreGCCmd(f *Factory, runF func(*StoreGCOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreGCOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--dry-run":
				o.DryRun = true
			case "--max":
				var v string
				if v, err = s.value(arg); err == nil {
					if o.Max, err = parseSize(v); err != nil {
						err = &usageError{f.Prog, fmt.Sprintf("flag '--max' requires a size in bytes, got '%s'", v)}
					}
				}
			default:
				err = storeArg(s, arg, &o.Store, &pos)
			}
			if err != nil {
				return err
			}
		}
		if len(pos) > 0 {
			return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", pos[0])}
		}
		return runF(o)
	}
}

// parseSize parses a byte count with an optional K, M, G or T suffix
// (powers of 1024), as Nix's string2Int for sizes.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	var v uint64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || fmt.Sprint(v) != s {
		return 0, fmt.Errorf("'%s' is not an integer", s)
	}
	return v * mult, nil
}

func runStoreGC(ctx context.Context, o *StoreGCOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		opts := local.GCOptions{Action: local.GCDeleteDead, MaxFreed: o.Max}
		if o.DryRun {
			opts.Action = local.GCReturnDead
		}
		res, err := st.CollectGarbage(ctx, opts)
		if err != nil {
			return err
		}
		if o.DryRun {
			// Nix 2.8 prints nothing here; we list what would go, as
			// nix-store --gc --print-dead does.
			for _, p := range res.Paths {
				fmt.Fprintln(out, p)
			}
			return nil
		}
		printDeleted(o.F.Stderr, res)
		printFreed(out, res)
		return nil
	})
}

// StoreOptimiseOptions are the flags of `cairn store optimise`.
type StoreOptimiseOptions struct {
	F     *Factory
	Store StoreFlags
}

func newStoreOptimiseCmd(f *Factory, runF func(*StoreOptimiseOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreOptimiseOptions{F: f}
		pos, err := parseStoreArgs(f, args, &o.Store)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", pos[0])}
		}
		return runF(o)
	}
}

func runStoreOptimise(ctx context.Context, o *StoreOptimiseOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		stats, err := st.Optimise(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.F.Stderr, "%s freed by hard-linking %d files\n", showBytes(stats.BytesFreed), stats.FilesLinked)
		return nil
	})
}
