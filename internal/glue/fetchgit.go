package glue

import (
	"fmt"
	"os"
	"strings"
	"time"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/fetch"
)

// primFetchGit is builtins.fetchGit as in Nix 2.8: a URL (or path) or
// { url, name ? "source", rev ?, ref ?, submodules ? false }, giving
// { outPath, narHash, submodules, rev, shortRev, revCount, lastModified,
// lastModifiedDate }. A dirty local working tree gives its tracked files
// with the all-zero rev and revCount 0.
func (g *IO) primFetchGit(ev *eval.Evaluator, _ eval.Pos, args []eval.Value) (eval.Value, error) {
	v, err := ev.Force(args[0])
	if err != nil {
		return eval.Value{}, err
	}
	req := fetch.GitRequest{}
	name, submodules := "source", false
	urlOf := func(x eval.Value) (string, error) {
		s, _, err := ev.CoerceToStringCtx(x, "while evaluating the 'url' argument passed to builtins.fetchGit")
		return s, err
	}
	if v.Kind() == eval.KAttrs {
		s := v.AttrsV()
		for _, n := range ev.AttrNames(s) {
			av, _ := ev.Attr(s, n)
			switch n {
			case "url":
				x, err := ev.Force(av)
				if err != nil {
					return eval.Value{}, err
				}
				if x.Kind() == eval.KPath {
					req.URL = x.Str()
				} else if req.URL, err = urlOf(x); err != nil {
					return eval.Value{}, err
				}
			case "name", "ref", "rev":
				str, err := ev.ForceStringNoCtx(av, fmt.Sprintf("while evaluating the '%s' argument passed to builtins.fetchGit", n))
				if err != nil {
					return eval.Value{}, err
				}
				switch n {
				case "name":
					name = str
				case "ref":
					req.Ref = str
				case "rev":
					req.Rev = str
				}
			case "submodules", "shallow", "allRefs":
				b, err := ev.ForceBool(av, fmt.Sprintf("while evaluating the '%s' argument passed to builtins.fetchGit", n))
				if err != nil {
					return eval.Value{}, err
				}
				if n == "submodules" {
					submodules = b
				}
			default:
				return eval.Value{}, ev.Errorf("unsupported Git input attribute '%s'", n)
			}
		}
		if req.URL == "" {
			return eval.Value{}, ev.Errorf("'url' argument required")
		}
	} else if v.Kind() == eval.KPath {
		req.URL = v.Str()
	} else if req.URL, err = urlOf(v); err != nil {
		return eval.Value{}, err
	}
	return g.fetchGitAttrs(ev, req, name, submodules, true)
}

// fetchGitAttrs fetches req and returns fetchGit's (emptyRevFallback) or
// fetchTree's attributes; the latter has no rev, shortRev and revCount
// for a dirty tree.
func (g *IO) fetchGitAttrs(ev *eval.Evaluator, req fetch.GitRequest, name string, submodules, emptyRevFallback bool) (eval.Value, error) {
	if req.Rev != "" && !isGitRev(req.Rev) {
		return eval.Value{}, ev.Errorf("invalid Git revision '%s'", req.Rev)
	}
	if submodules {
		return eval.Value{}, ev.Errorf("fetchGit: 'submodules = true' is not supported yet")
	}
	if err := fetch.CheckName(name); err != nil {
		return eval.Value{}, ev.Errorf("invalid name for fetchGit: %v", err)
	}
	if ev.Options().Pure && req.Rev == "" {
		return eval.Value{}, ev.Errorf("in pure evaluation mode, 'fetchGit' requires a Git revision")
	}
	if !strings.Contains(req.URL, "://") {
		if !strings.HasPrefix(req.URL, "/") {
			return eval.Value{}, ev.Errorf("fetchGit: '%s' is neither a URL nor an absolute path", req.URL)
		}
		req.URL = "file://" + req.URL
	}
	tmp, err := os.MkdirTemp("", "cairn-fetchgit-")
	if err != nil {
		return eval.Value{}, err
	}
	defer os.RemoveAll(tmp)
	tree, err := fetch.Git(g.ctx, req, tmp)
	if err != nil {
		return eval.Value{}, ev.Errorf("%v", err)
	}
	if w := ev.Options().Trace; tree.Dirty && w != nil {
		// Nix's warn(), not an evaluation warning.
		fmt.Fprintf(w, "warning: Git tree '%s' is dirty\n", strings.TrimPrefix(req.URL, "file://"))
	}
	nh := nixhash.NewHasher(nixhash.SHA256)
	if err := nar.DumpPath(nh, tree.Dir); err != nil {
		return eval.Value{}, ev.Errorf("hashing Git tree of '%s': %v", req.URL, err)
	}
	st, err := g.Store()
	if err != nil {
		return eval.Value{}, err
	}
	sp, err := g.addFetched(st, req.URL, tree.Dir, name, storepath.Recursive, nh.Sum())
	if err != nil {
		return eval.Value{}, ev.Errorf("%v", err)
	}
	attrs := map[string]eval.Value{
		"outPath":          eval.StringCtx(sp, eval.NewContext(sp)),
		"narHash":          eval.String(nh.Sum().String()),
		"submodules":       eval.Bool(submodules),
		"lastModified":     eval.Int(tree.LastModified),
		"lastModifiedDate": eval.String(lastModifiedDate(tree.LastModified)),
	}
	if rev := tree.Rev; rev != "" || emptyRevFallback {
		if rev == "" {
			rev = strings.Repeat("0", 40)
		}
		attrs["rev"] = eval.String(rev)
		attrs["shortRev"] = eval.String(rev[:7])
		attrs["revCount"] = eval.Int(tree.RevCount)
	}
	return ev.NewAttrs(attrs), nil
}

// lastModifiedDate formats a Unix time as Nix's lastModifiedDate.
func lastModifiedDate(t int64) string {
	return time.Unix(t, 0).UTC().Format("20060102150405")
}

func isGitRev(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
