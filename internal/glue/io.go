package glue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/store/local"
)

// Options configure an IO.
type Options struct {
	// StoreDir is the logical store directory; "" means /nix/store.
	StoreDir storepath.Dir
	// Root is the chroot root of a local store ("" for none): store
	// paths are read from Root+path.
	Root string
	// OpenStore, if set, opens the store to write to. It is called at
	// most once, on the first write. Nil means compute-only: paths are
	// computed and nothing is written.
	OpenStore func(ctx context.Context) (*local.Store, error)
}

// IO implements eval.IO. It is not safe for concurrent use (the evaluator
// runs on one goroutine).
type IO struct {
	ctx  context.Context
	dir  storepath.Dir
	root string

	open    func(ctx context.Context) (*local.Store, error)
	store   *local.Store
	openErr error

	copies map[string]string                 // source path -> store path
	drvs   map[string]*derivation.Derivation // .drv path -> derivation (this session)
	refs   map[string][]string               // store path -> references (this session)
	hasher *derivation.Hasher

	realise RealiseFunc // import from derivation; nil: unavailable

	deferDrvs bool // see DeferDerivations
}

// DeferDerivations makes g write the .drv files of derivations with
// local.Store.AddTextDeferred: their database rows are written together,
// when the store is next used (or at Sync), instead of one transaction
// each. For commands that go on to use the store themselves (build), or
// that call Sync before they print a derivation path (instantiate).
func (g *IO) DeferDerivations() { g.deferDrvs = true }

// Sync makes the derivations written so far valid (see
// DeferDerivations).
func (g *IO) Sync(ctx context.Context) error {
	if g.store == nil {
		return nil
	}
	return g.store.Sync(ctx)
}

var _ eval.IO = (*IO)(nil)

// New returns an IO that reads the operating system's file system and
// adds to the store described by opts. ctx bounds store operations.
func New(ctx context.Context, opts Options) *IO {
	dir := opts.StoreDir
	if dir == "" {
		dir = storepath.DefaultDir
	}
	g := &IO{
		ctx:    ctx,
		dir:    dir,
		root:   opts.Root,
		open:   opts.OpenStore,
		copies: map[string]string{},
		drvs:   map[string]*derivation.Derivation{},
		refs:   map[string][]string{},
	}
	g.hasher = derivation.NewHasher(dir, g.readDerivation)
	return g
}

// StoreDir returns the logical store directory.
func (g *IO) StoreDir() storepath.Dir { return g.dir }

// Writes reports whether g writes to a store (false: compute-only).
func (g *IO) Writes() bool { return g.open != nil }

// Store returns the store g writes to, opening it if needed; nil and no
// error in compute-only mode.
func (g *IO) Store() (*local.Store, error) {
	if g.open == nil {
		return nil, nil
	}
	if g.store == nil && g.openErr == nil {
		g.store, g.openErr = g.open(g.ctx)
	}
	return g.store, g.openErr
}

// Close closes the store if it was opened.
func (g *IO) Close() error { return g.close((*local.Store).Close) }

// CloseForExit is Close for a process that exits next (see
// local.Store.CloseForExit).
func (g *IO) CloseForExit() error { return g.close((*local.Store).CloseForExit) }

func (g *IO) close(f func(*local.Store) error) error {
	if g.store != nil {
		err := f(g.store)
		g.store = nil
		return err
	}
	return nil
}

// real maps a store path to where it lives under the chroot root, once
// it is there (see await).
func (g *IO) real(p string) string {
	g.await(p)
	if g.root != "" && (p == string(g.dir) || strings.HasPrefix(p, string(g.dir)+"/")) {
		return g.root + p
	}
	return p
}

// await waits for the file of p's store path if it is a derivation
// whose file is written in the background (DeferDerivations).
func (g *IO) await(p string) {
	if g.store == nil || !g.deferDrvs {
		return
	}
	rest, ok := strings.CutPrefix(p, string(g.dir)+"/")
	if !ok {
		return
	}
	base, _, _ := strings.Cut(rest, "/")
	if sp, err := g.dir.Parse(string(g.dir) + "/" + base); err == nil {
		g.store.Await(sp)
	}
}

// ReadFile implements eval.IO.
func (g *IO) ReadFile(p string) ([]byte, error) {
	b, err := os.ReadFile(g.real(p))
	if err != nil {
		return nil, sysError("reading file", p, err)
	}
	return b, nil
}

// ReadDir implements eval.IO.
func (g *IO) ReadDir(p string) ([]eval.DirEntry, error) {
	ents, err := os.ReadDir(g.real(p))
	if errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("'%s' is not a directory", p)
	}
	if err != nil {
		return nil, sysError("reading directory", p, err)
	}
	out := make([]eval.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = eval.DirEntry{Name: e.Name(), Type: fileType(e.Type())}
	}
	return out, nil
}

// Lstat implements eval.IO. p is used as given (no cleaning), so
// "file/." fails for a regular file.
func (g *IO) Lstat(p string) (eval.FileType, error) {
	fi, err := os.Lstat(g.real(p))
	if err != nil {
		return eval.FileUnknown, sysError("getting status of", p, err)
	}
	return fileType(fi.Mode()), nil
}

// PathExists implements eval.IO: p exists, following symlinks.
func (g *IO) PathExists(p string) bool {
	_, err := os.Stat(g.real(p))
	return err == nil
}

func fileType(m fs.FileMode) eval.FileType {
	switch {
	case m.IsRegular():
		return eval.FileRegular
	case m.IsDir():
		return eval.FileDirectory
	case m&fs.ModeSymlink != 0:
		return eval.FileSymlink
	}
	return eval.FileUnknown
}

// sysError formats a system error as Nix's SysError does:
// "getting status of '/x': No such file or directory".
func sysError(op, p string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("%s '%s': %s", op, p, strerror(errno))
	}
	return fmt.Errorf("%s '%s': %w", op, p, err)
}

// strerror is C's strerror text for errno (Go's is the same but lower-case).
func strerror(errno syscall.Errno) string {
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// ResolveExprPath is Nix's resolveExprPath for a command-line file: a
// symlink is followed (so relative paths in the file work) and a directory
// means its default.nix.
func (g *IO) ResolveExprPath(p string) (string, error) {
	for range 1024 {
		if p == "/" {
			break
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			return "", sysError("reading symbolic link", p, err)
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		p = path.Clean(t)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return path.Join(p, "default.nix"), nil
	}
	return p, nil
}

// CopyPathToStore implements eval.IO: the tree at p becomes a "source"
// store path named after its base name (NAR, sha256). Results are cached
// per path for the lifetime of g.
func (g *IO) CopyPathToStore(p string) (string, error) {
	if sp, ok := g.copies[p]; ok {
		return sp, nil
	}
	name := path.Base(p)
	if err := storepath.CheckName(name); err != nil {
		return "", fmt.Errorf("adding '%s' to the store: %w", p, err)
	}
	st, err := g.Store()
	if err != nil {
		return "", err
	}
	var sp string
	if st != nil {
		info, err := st.AddPath(g.ctx, g.real(p), local.AddOptions{Name: name, Method: storepath.Recursive})
		if err != nil {
			return "", fmt.Errorf("adding '%s' to the store: %w", p, err)
		}
		sp = g.dir.Print(info.Path)
	} else {
		h := nixhash.NewHasher(nixhash.SHA256)
		if err := nar.DumpPath(h, g.real(p)); err != nil {
			return "", fmt.Errorf("hashing '%s': %w", p, err)
		}
		x, err := g.dir.MakeFixedOutputPath(name, storepath.Recursive, h.Sum(), nil, false)
		if err != nil {
			return "", fmt.Errorf("adding '%s' to the store: %w", p, err)
		}
		sp = g.dir.Print(x)
	}
	g.copies[p] = sp
	return sp, nil
}

// AddTextToStore implements eval.IO (builtins.toFile).
func (g *IO) AddTextToStore(name, content string, refs []string) (string, error) {
	rs, err := g.parsePaths(refs)
	if err != nil {
		return "", err
	}
	sp, err := g.addText(name, []byte(content), rs, false)
	if err != nil {
		return "", err
	}
	g.refs[sp] = slices.Clone(refs)
	return sp, nil
}

func (g *IO) parsePaths(ps []string) ([]storepath.Path, error) {
	out := make([]storepath.Path, 0, len(ps))
	for _, r := range ps {
		p, err := g.dir.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("path '%s' is not in the Nix store", r)
		}
		out = append(out, p)
	}
	return out, nil
}

func (g *IO) addText(name string, content []byte, refs []storepath.Path, deferred bool) (string, error) {
	st, err := g.Store()
	if err != nil {
		return "", err
	}
	if st != nil {
		// A .drv is checked against its outputs when registered; g's
		// hasher already knows the hashes of its inputs.
		add := st.AddText
		if deferred {
			add = st.AddTextDeferred
		}
		info, err := add(local.WithHasher(g.ctx, g.hasher), name, content, refs)
		if err != nil {
			return "", fmt.Errorf("adding '%s' to the store: %w", name, err)
		}
		return g.dir.Print(info.Path), nil
	}
	p, err := g.dir.ComputeTextPath(name, content, refs)
	if err != nil {
		return "", fmt.Errorf("adding '%s' to the store: %w", name, err)
	}
	return g.dir.Print(p), nil
}

// AddDerivation implements eval.IO: it builds the store derivation for
// req (inputs from its string context), fills in output paths, and writes
// the .drv (or only computes its path).
func (g *IO) AddDerivation(req *eval.DerivationRequest) (*eval.DerivationResult, error) {
	d := &derivation.Derivation{
		Outputs:   map[string]derivation.Output{},
		InputDrvs: map[string][]string{},
		Platform:  req.System,
		Builder:   req.Builder,
		Args:      slices.Clone(req.Args),
		Env:       make(map[string]string, len(req.Env)+1),
	}
	if d.Args == nil {
		d.Args = []string{}
	}
	for k, v := range req.Env {
		d.Env[k] = v
	}
	if req.StructuredAttrs != "" {
		d.Env["__json"] = req.StructuredAttrs
	}
	if err := g.addInputs(d, req.Context); err != nil {
		return nil, err
	}
	if err := setOutputs(d, req); err != nil {
		return nil, err
	}
	if err := g.hasher.FillOutputs(d, req.Name); err != nil {
		return nil, fmt.Errorf("computing the outputs of derivation '%s': %w", req.Name, err)
	}
	refs, err := g.parsePaths(d.References())
	if err != nil {
		return nil, err
	}
	drvPath, err := g.addText(req.Name+".drv", d.Bytes(), refs, g.deferDrvs)
	if err != nil {
		return nil, err
	}
	g.drvs[drvPath] = d
	g.refs[drvPath] = d.References()
	res := &eval.DerivationResult{DrvPath: drvPath, Outputs: make(map[string]string, len(d.Outputs))}
	for o, out := range d.Outputs {
		res.Outputs[o] = out.Path
	}
	return res, nil
}

// addInputs turns string context into inputSrcs and inputDrvs as Nix 2.8's
// derivationStrict does: "!out!drv" adds an output of drv; "=drv" adds
// every path in drv's closure to inputSrcs and every derivation in it with
// all its outputs to inputDrvs; a plain path goes to inputSrcs.
func (g *IO) addInputs(d *derivation.Derivation, ctx []string) error {
	srcs := map[string]bool{}
	addOut := func(drv, out string) {
		if !slices.Contains(d.InputDrvs[drv], out) {
			d.InputDrvs[drv] = append(d.InputDrvs[drv], out)
		}
	}
	for _, c := range ctx {
		switch {
		case strings.HasPrefix(c, "="):
			closure, err := g.closure(c[1:])
			if err != nil {
				return err
			}
			for _, p := range closure {
				srcs[p] = true
				if strings.HasSuffix(p, ".drv") {
					x, err := g.readDerivation(p)
					if err != nil {
						return err
					}
					for o := range x.Outputs {
						addOut(p, o)
					}
				}
			}
		case strings.HasPrefix(c, "!"):
			out, drv, ok := strings.Cut(c[1:], "!")
			if !ok {
				return fmt.Errorf("bad string context element '%s'", c)
			}
			addOut(drv, out)
		default:
			srcs[c] = true
		}
	}
	for s := range srcs {
		d.InputSrcs = append(d.InputSrcs, s)
	}
	slices.Sort(d.InputSrcs)
	for k := range d.InputDrvs {
		slices.Sort(d.InputDrvs[k])
	}
	return nil
}

func setOutputs(d *derivation.Derivation, req *eval.DerivationRequest) error {
	prefix := ""
	switch req.OutputHashMode {
	case "recursive", "nar":
		prefix = "r:"
	case "text":
		prefix = "text:"
	}
	switch {
	case req.OutputHash != "":
		var algo nixhash.Algo
		if req.OutputHashAlgo != "" {
			a, err := nixhash.ParseAlgo(req.OutputHashAlgo)
			if err != nil {
				return err
			}
			algo = a
		}
		h, err := nixhash.ParseAny(req.OutputHash, algo)
		if err != nil {
			return err
		}
		d.Outputs["out"] = derivation.Output{HashAlgo: prefix + h.Algo.String(), Hash: h.Hex()}
	case req.ContentAddressed || req.Impure:
		algo := req.OutputHashAlgo
		if algo == "" {
			algo = "sha256"
		}
		out := derivation.Output{HashAlgo: prefix + algo}
		if req.Impure {
			out.Hash = "impure"
		}
		for _, o := range req.Outputs {
			d.Outputs[o] = out
		}
	default:
		for _, o := range req.Outputs {
			d.Outputs[o] = derivation.Output{}
		}
	}
	return nil
}

// closure returns p and everything it refers to, transitively, sorted.
func (g *IO) closure(p string) ([]string, error) {
	seen := map[string]bool{}
	stack := []string{p}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		refs, err := g.references(x)
		if err != nil {
			return nil, err
		}
		stack = append(stack, refs...)
	}
	out := make([]string, 0, len(seen))
	for x := range seen {
		out = append(out, x)
	}
	slices.Sort(out)
	return out, nil
}

// references returns the references of store path p: known from this
// session, read from a .drv file, or queried from an open store.
func (g *IO) references(p string) ([]string, error) {
	if r, ok := g.refs[p]; ok {
		return r, nil
	}
	if strings.HasSuffix(p, ".drv") {
		d, err := g.readDerivation(p)
		if err != nil {
			return nil, err
		}
		return d.References(), nil
	}
	if g.store != nil {
		sp, err := g.dir.Parse(p)
		if err != nil {
			return nil, err
		}
		rs, err := g.store.QueryReferences(g.ctx, sp)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, r := range rs {
			if s := g.dir.Print(r); s != p {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, nil
}

// SessionDerivation returns the derivation at the .drv path p if this IO
// made or read it. Callers must not change it.
func (g *IO) SessionDerivation(p storepath.Path) (*derivation.Derivation, bool) {
	d, ok := g.drvs[g.dir.Print(p)]
	return d, ok
}

// readDerivation returns a derivation made in this session or parsed from
// its .drv file.
func (g *IO) readDerivation(p string) (*derivation.Derivation, error) {
	if d, ok := g.drvs[p]; ok {
		return d, nil
	}
	b, err := os.ReadFile(g.real(p))
	if err != nil {
		return nil, sysError("reading derivation", p, err)
	}
	d, err := derivation.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("reading derivation '%s': %w", p, err)
	}
	g.drvs[p] = d
	return d, nil
}

// AddPathToStore implements eval.IO (builtins.path, filterSource): the tree
// at req.Path, filtered, becomes a content-addressed path named req.Name.
// The NAR is produced on the calling goroutine, because the filter calls
// back into the evaluator.
func (g *IO) AddPathToStore(req *eval.PathRequest) (string, error) {
	var keep nar.Filter
	if req.Filter != nil {
		keep = func(p string, fi fs.FileInfo) (bool, error) { return req.Filter(p, fileType(fi.Mode())) }
	}
	var buf bytes.Buffer
	if err := nar.DumpPathFilter(&buf, g.real(req.Path), keep); err != nil {
		return "", fmt.Errorf("adding '%s' to the store: %w", req.Path, err)
	}
	method := storepath.Recursive
	var h nixhash.Hash
	if req.Recursive {
		h = nixhash.Sum(nixhash.SHA256, buf.Bytes())
	} else {
		b, err := os.ReadFile(g.real(req.Path))
		if err != nil {
			return "", sysError("reading file", req.Path, err)
		}
		h = nixhash.Sum(nixhash.SHA256, b)
		method = storepath.Flat
	}
	if req.ExpectedSHA256 != "" {
		want, err := nixhash.ParseAny(req.ExpectedSHA256, nixhash.SHA256)
		if err != nil {
			return "", err
		}
		if !want.Equal(h) {
			return "", eval.ErrStorePathMismatch
		}
	}
	st, err := g.Store()
	if err != nil {
		return "", err
	}
	if st != nil {
		info, err := st.AddDump(g.ctx, &buf, local.AddOptions{Name: req.Name, Method: method})
		if err != nil {
			return "", fmt.Errorf("adding '%s' to the store: %w", req.Path, err)
		}
		return g.dir.Print(info.Path), nil
	}
	p, err := g.dir.MakeFixedOutputPath(req.Name, method, h, nil, false)
	if err != nil {
		return "", fmt.Errorf("adding '%s' to the store: %w", req.Path, err)
	}
	return g.dir.Print(p), nil
}
