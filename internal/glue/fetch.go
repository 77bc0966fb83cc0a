package glue

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/fetch"
	"cairn/internal/store/local"
)

// Fetchers returns the fetching builtins backed by g, for
// eval.Options.ExtraBuiltins: fetchurl, fetchTarball, fetchTree (types
// "file", "tarball", "path" and "git") and fetchGit.
func (g *IO) Fetchers() []eval.Primop {
	return []eval.Primop{
		{Name: "__fetchurl", Arity: 1, Fn: g.fetchPrim("fetchurl", false, ""), ArgNames: []string{"args"}},
		{Name: "fetchTarball", Arity: 1, Fn: g.fetchPrim("fetchTarball", true, "source"), ArgNames: []string{"args"}},
		{Name: "fetchTree", Arity: 1, Fn: g.primFetchTree, ArgNames: []string{"input"}},
		{Name: "fetchGit", Arity: 1, Fn: g.primFetchGit, ArgNames: []string{"args"}},
	}
}

// fetchPrim is Nix's fetch() behind builtins.fetchurl (unpack false,
// name defaulting to the URL's base name) and builtins.fetchTarball
// (unpack true, name "source").
func (g *IO) fetchPrim(who string, unpack bool, defaultName string) eval.PrimopFunc {
	return func(ev *eval.Evaluator, _ eval.Pos, args []eval.Value) (eval.Value, error) {
		v, err := ev.Force(args[0])
		if err != nil {
			return eval.Value{}, err
		}
		var u, name string
		var want *nixhash.Hash
		isAttrs, namePassed := v.Kind() == eval.KAttrs, false
		if isAttrs {
			s := v.AttrsV()
			haveURL := false
			for _, n := range ev.AttrNames(s) {
				av, _ := ev.Attr(s, n)
				switch n {
				case "url":
					if u, err = ev.ForceStringNoCtx(av, "while evaluating the url we should fetch"); err != nil {
						return eval.Value{}, err
					}
					haveURL = true
				case "sha256", "hash":
					h, err := ev.ForceStringNoCtx(av, "while evaluating the sha256 of the content we should fetch")
					if err != nil {
						return eval.Value{}, err
					}
					if h != "" {
						x, err := nixhash.ParseAny(h, nixhash.SHA256)
						if err != nil {
							return eval.Value{}, ev.Errorf("%v", err)
						}
						want = &x
					}
				case "name":
					if name, err = ev.ForceStringNoCtx(av, "while evaluating the name of the content we should fetch"); err != nil {
						return eval.Value{}, err
					}
					namePassed = true
				default:
					return eval.Value{}, ev.Errorf("unsupported argument '%s' to '%s'", n, who)
				}
			}
			if !haveURL {
				return eval.Value{}, ev.Errorf("'url' argument required")
			}
		} else if u, err = ev.ForceStringNoCtx(v, "while evaluating the url we should fetch"); err != nil {
			return eval.Value{}, err
		}
		if name == "" && !namePassed {
			name = defaultName
		}
		if name == "" {
			name = fetch.BaseName(u)
		}
		if err := fetch.CheckName(name); err != nil {
			var fix string
			switch {
			case namePassed:
				fix = fmt.Sprintf("Please change the value for the 'name' attribute passed to '%s', so that it can create a valid store path.", who)
			case isAttrs:
				fix = fmt.Sprintf("Please add a valid 'name' attribute to the argument for '%s', so that it can create a valid store path.", who)
			default:
				fix = fmt.Sprintf("Please pass an attribute set with 'url' and 'name' attributes to '%s',  so that it can create a valid store path.", who)
			}
			return eval.Value{}, ev.Errorf("invalid store path name when fetching URL '%s': %v. %s", u, err, fix)
		}
		if ev.Options().Pure && want == nil {
			return eval.Value{}, ev.Errorf("in pure evaluation mode, '%s' requires a 'sha256' argument", who)
		}
		res, err := g.Fetch(u, name, unpack, want, false)
		if err != nil {
			return eval.Value{}, ev.Errorf("%v", err)
		}
		return eval.StringCtx(res.Path, eval.NewContext(res.Path)), nil
	}
}

// FetchResult is what Fetch added (or would add) to the store.
type FetchResult struct {
	Path string // store path
	// NarHash is the SHA-256 of the result's NAR serialisation; zero if
	// nothing was downloaded (a pinned fetch in compute-only mode).
	NarHash nixhash.Hash
}

// Fetch downloads u and adds it to the store as name: the file itself
// (flat) or, with unpack, the single top-level entry of the archive
// (recursive). want, if set, must match the file's SHA-256 (flat) or
// the NAR's (unpack); otherwise it is Nix's "hash mismatch" error. A
// pinned fetch (want set) whose path is already valid is not downloaded
// unless needNar. In compute-only mode the path is computed and nothing
// is written (the download is still needed to check or learn the hash).
func (g *IO) Fetch(u, name string, unpack bool, want *nixhash.Hash, needNar bool) (*FetchResult, error) {
	method := storepath.Flat
	if unpack {
		method = storepath.Recursive
	}
	st, err := g.Store()
	if err != nil {
		return nil, err
	}
	if want != nil && want.Algo == nixhash.SHA256 && !needNar {
		// Pinned and already in the store: nothing to download.
		p, err := g.dir.MakeFixedOutputPath(name, method, *want, nil, false)
		if err != nil {
			return nil, err
		}
		if g.valid(st, p) {
			return &FetchResult{Path: g.dir.Print(p)}, nil
		}
	}
	tmp, err := os.MkdirTemp("", "cairn-fetch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "download")
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := fetch.Download(g.ctx, &http.Client{}, u, f); err != nil {
		return nil, err
	}
	src := file
	if unpack {
		dir := filepath.Join(tmp, "unpack")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		if err := fetch.Unpack(f, dir); err != nil {
			return nil, fmt.Errorf("unpacking '%s': %w", u, err)
		}
		if src, err = fetch.TopDir(dir, u); err != nil {
			return nil, err
		}
	}
	nh := nixhash.NewHasher(nixhash.SHA256)
	if err := nar.DumpPath(nh, src); err != nil {
		return nil, fmt.Errorf("hashing '%s': %w", u, err)
	}
	res := &FetchResult{NarHash: nh.Sum()}
	got := res.NarHash
	if !unpack {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		got = nixhash.Sum(nixhash.SHA256, b)
	}
	if want != nil && !want.Equal(got) {
		return nil, fmt.Errorf("hash mismatch in file downloaded from '%s':\n  specified: %s\n  got:       %s",
			u, want.Encode(nixhash.Nix32, true), got.Encode(nixhash.Nix32, true))
	}
	if res.Path, err = g.addFetched(st, u, src, name, method, got); err != nil {
		return nil, err
	}
	return res, nil
}

// addFetched adds src, whose content hash (flat) or NAR hash (recursive)
// is h, to the store as name, or computes its path in compute-only mode.
func (g *IO) addFetched(st *local.Store, u, src, name string, method storepath.Method, h nixhash.Hash) (string, error) {
	if st != nil {
		info, err := st.AddPath(g.ctx, src, local.AddOptions{Name: name, Method: method})
		if err != nil {
			return "", fmt.Errorf("adding '%s' to the store: %w", u, err)
		}
		return g.dir.Print(info.Path), nil
	}
	p, err := g.dir.MakeFixedOutputPath(name, method, h, nil, false)
	if err != nil {
		return "", err
	}
	return g.dir.Print(p), nil
}

// valid reports whether p is in the store: registered in st, or, in
// compute-only mode, present on disk.
func (g *IO) valid(st *local.Store, p storepath.Path) bool {
	if st != nil {
		ok, err := st.IsValid(g.ctx, p)
		return err == nil && ok
	}
	_, err := os.Lstat(g.real(g.dir.Print(p)))
	return err == nil
}

// primFetchTree is builtins.fetchTree for inputs of type "file",
// "tarball", "path" and "git", given as attributes or as a URL
// (git+..., path:..., or a file/tarball URL).
func (g *IO) primFetchTree(ev *eval.Evaluator, _ eval.Pos, args []eval.Value) (eval.Value, error) {
	v, err := ev.Force(args[0])
	if err != nil {
		return eval.Value{}, err
	}
	var typ, u, shown string
	var want *nixhash.Hash
	if v.Kind() == eval.KAttrs {
		s := v.AttrsV()
		attrs := map[string]string{}
		for _, n := range ev.AttrNames(s) {
			av, _ := ev.Attr(s, n)
			if n == "type" {
				if typ, err = ev.ForceStringNoCtx(av, "while evaluating the `type` attribute passed to builtins.fetchTree"); err != nil {
					return eval.Value{}, err
				}
				continue
			}
			x, err := ev.Force(av)
			if err != nil {
				return eval.Value{}, err
			}
			switch x.Kind() {
			case eval.KString:
				attrs[n] = x.Str()
			case eval.KBool:
				attrs[n] = fmt.Sprint(x.BoolV())
			case eval.KInt:
				if x.IntV() < 0 {
					return eval.Value{}, ev.Errorf("negative value given for 'fetchTree' argument '%s': %d", n, x.IntV())
				}
				attrs[n] = fmt.Sprint(x.IntV())
			default:
				return eval.Value{}, ev.Errorf("argument '%s' to 'fetchTree' is %s while a string, Boolean or integer is expected", n, x.TypeName())
			}
		}
		if typ == "" {
			return eval.Value{}, ev.Errorf("attribute 'type' is missing in call to 'fetchTree'")
		}
		u = attrs["url"]
		if nh, ok := attrs["narHash"]; ok {
			h, err := nixhash.ParseAny(nh, nixhash.SHA256)
			if err != nil {
				return eval.Value{}, ev.Errorf("%v", err)
			}
			want = &h
		}
		shown = u
		switch typ {
		case "git":
			req := fetch.GitRequest{URL: u, Ref: attrs["ref"], Rev: attrs["rev"]}
			name := attrs["name"]
			if name == "" {
				name = "source"
			}
			return g.fetchGitAttrs(ev, req, name, attrs["submodules"] == "true", false)
		case "path":
			return g.fetchTreePath(ev, attrs["path"])
		}
	} else {
		if u, err = ev.ForceStringNoCtx(v, "while evaluating the argument passed to builtins.fetchTree"); err != nil {
			return eval.Value{}, err
		}
		shown = u
		switch {
		case strings.HasPrefix(u, "git+"):
			pu, err := url.Parse(strings.TrimPrefix(u, "git+"))
			if err != nil {
				return eval.Value{}, ev.Errorf("'%s' is not a valid URL: %v", u, err)
			}
			q := pu.Query()
			pu.RawQuery = ""
			req := fetch.GitRequest{URL: pu.String(), Ref: q.Get("ref"), Rev: q.Get("rev")}
			return g.fetchGitAttrs(ev, req, "source", q.Get("submodules") == "1", false)
		case strings.HasPrefix(u, "path:"):
			return g.fetchTreePath(ev, strings.TrimPrefix(u, "path:"))
		}
		typ = "file"
		if hasTarballExtension(u) {
			typ = "tarball"
		}
	}
	if typ != "file" && typ != "tarball" {
		return eval.Value{}, ev.Errorf("input type '%s' is not supported by this fetchTree (only 'file', 'tarball', 'path' and 'git')", typ)
	}
	res, err := g.fetchTreeURL(typ, u, want)
	if err != nil {
		e := ev.Errorf("%v", err)
		if ee, ok := e.(*eval.EvalError); ok {
			ee.Frames = append(ee.Frames, eval.Frame{Msg: fmt.Sprintf("while fetching the input '%s'", shown), Always: true})
		}
		return eval.Value{}, e
	}
	return ev.NewAttrs(map[string]eval.Value{
		"outPath": eval.StringCtx(res.Path, eval.NewContext(res.Path)),
		"narHash": eval.String(res.NarHash.String()),
	}), nil
}

// fetchTreePath is fetchTree's "path" type: the tree at p as "source",
// with lastModified the newest modification time in it.
func (g *IO) fetchTreePath(ev *eval.Evaluator, p string) (eval.Value, error) {
	if !strings.HasPrefix(p, "/") {
		return eval.Value{}, ev.Errorf("path '%s' is not absolute", p)
	}
	var newest int64
	err := filepath.WalkDir(g.real(p), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		newest = max(newest, fi.ModTime().Unix())
		return nil
	})
	if err != nil {
		return eval.Value{}, ev.Errorf("%v", sysError("getting status of", p, err))
	}
	nh := nixhash.NewHasher(nixhash.SHA256)
	if err := nar.DumpPath(nh, g.real(p)); err != nil {
		return eval.Value{}, ev.Errorf("hashing '%s': %v", p, err)
	}
	st, err := g.Store()
	if err != nil {
		return eval.Value{}, err
	}
	sp, err := g.addFetched(st, p, g.real(p), "source", storepath.Recursive, nh.Sum())
	if err != nil {
		return eval.Value{}, ev.Errorf("%v", err)
	}
	return ev.NewAttrs(map[string]eval.Value{
		"outPath":          eval.StringCtx(sp, eval.NewContext(sp)),
		"narHash":          eval.String(nh.Sum().String()),
		"lastModified":     eval.Int(newest),
		"lastModifiedDate": eval.String(lastModifiedDate(newest)),
	}), nil
}

func (g *IO) fetchTreeURL(typ, u string, want *nixhash.Hash) (*FetchResult, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	if u == "" {
		return nil, fmt.Errorf("%s input is missing the 'url' attribute", typ)
	}
	if pu.Scheme == "file" && !strings.HasPrefix(pu.Path, "/") {
		return nil, fmt.Errorf("%s '%s' must use an absolute path. The 'file' scheme does not support relative paths.", typ, u)
	}
	res, err := g.Fetch(u, "source", typ == "tarball", nil, true)
	if err != nil {
		return nil, err
	}
	if want != nil && !want.Equal(res.NarHash) {
		return nil, fmt.Errorf("NAR hash mismatch in input '%s', expected '%s' but got '%s'", u, want.String(), res.NarHash.String())
	}
	return res, nil
}

func hasTarballExtension(u string) bool {
	if pu, err := url.Parse(u); err == nil && pu.Path != "" {
		u = pu.Path
	} else if err == nil {
		u = pu.Opaque
	}
	for _, ext := range []string{".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst"} {
		if strings.HasSuffix(u, ext) {
			return true
		}
	}
	return false
}
