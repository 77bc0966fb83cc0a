package profile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// Store is what profiles need from a store; *local.Store implements it.
type Store interface {
	store.Store
	Rooter
	// RealStoreDir is where the store directory is on this machine
	// (differs from Dir under a root directory).
	RealStoreDir() string
	// AddPath adds a file system tree as a content-addressed path.
	AddPath(ctx context.Context, fsPath string, opts local.AddOptions) (*store.PathInfo, error)
}

var _ Store = (*local.Store)(nil)

// realFunc maps logical paths in st's store directory to real ones.
func realFunc(st Store) func(string) string {
	dir, real := string(st.Dir()), st.RealStoreDir()
	if dir == real {
		return nil
	}
	return func(p string) string {
		if rest, ok := strings.CutPrefix(p, dir+"/"); ok {
			return real + "/" + rest
		}
		return p
	}
}

// NewProfileEnv builds the environment of m the way `nix profile` (Nix
// 2.8) does and adds it to st: the buildenv symlink forest of the active
// elements' store paths (all at the default priority) plus manifest.json,
// added as the content-addressed (recursive sha256) path named "profile"
// whose references are the store paths of every element, active or not.
// For the same manifest this is the same store path Nix computes.
func NewProfileEnv(ctx context.Context, st Store, m *Manifest) (storepath.Path, *EnvResult, error) {
	tmp, err := os.MkdirTemp("", "cairn-profile-")
	if err != nil {
		return storepath.Path{}, nil, fmt.Errorf("build profile: %w", err)
	}
	defer os.RemoveAll(tmp)
	var refs []storepath.Path
	var pkgs []Package
	for _, e := range m.Elements {
		for _, p := range e.StorePaths {
			ok, err := st.IsValid(ctx, p)
			if err != nil {
				return storepath.Path{}, nil, err
			}
			if !ok {
				return storepath.Path{}, nil, &store.NotValidError{Path: st.Dir().Print(p)}
			}
			if e.Active {
				pkgs = append(pkgs, Package{Path: st.Dir().Print(p), Active: true, Priority: DefaultPriority})
			}
			refs = append(refs, p)
		}
	}
	res, err := BuildEnv(tmp, pkgs, EnvOptions{Real: realFunc(st)})
	if err != nil {
		return storepath.Path{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), m.JSON(st.Dir()), 0o644); err != nil {
		return storepath.Path{}, nil, fmt.Errorf("build profile: %w", err)
	}
	info, err := st.AddPath(ctx, tmp, local.AddOptions{Name: "profile", Method: storepath.Recursive, References: store.SortPaths(refs)})
	if err != nil {
		return storepath.Path{}, nil, fmt.Errorf("build profile: %w", err)
	}
	return info.Path, res, nil
}

// ReadManifest reads the manifest of the environment that link (a
// profile or generation link, or a store path) leads to: manifest.json,
// else the element paths of a nix-env manifest.nix. A missing link or
// an environment with neither file gives an empty manifest.
func ReadManifest(st Store, link string) (*Manifest, error) {
	p, err := FollowToStore(st.Dir(), link)
	if errors.Is(err, fs.ErrNotExist) {
		return &Manifest{}, nil
	}
	if err != nil {
		return nil, err
	}
	env := filepath.Join(st.RealStoreDir(), p.Base())
	if b, err := os.ReadFile(filepath.Join(env, "manifest.json")); err == nil {
		m, err := ParseManifest(b, st.Dir())
		if err != nil {
			return nil, fmt.Errorf("profile manifest '%s/manifest.json': %w", st.Dir().Print(p), err)
		}
		return m, nil
	}
	nixFile := filepath.Join(env, "manifest.nix")
	if t, err := os.Readlink(nixFile); err == nil {
		if q, _, err := st.Dir().ParseSub(t); err == nil {
			nixFile = filepath.Join(st.RealStoreDir(), q.Base())
		}
	}
	if b, err := os.ReadFile(nixFile); err == nil {
		return parseManifestNix(b, st.Dir())
	}
	return &Manifest{}, nil
}

// FollowToStore follows link (a chain of symlinks outside the store, as
// profile -> profile-N-link -> store path) to the store path it names.
// The store path itself need not exist on this machine (chroot stores).
func FollowToStore(dir storepath.Dir, link string) (storepath.Path, error) {
	cur := link
	for range 40 {
		if strings.HasPrefix(cur, string(dir)+"/") {
			p, _, err := dir.ParseSub(cur)
			return p, err
		}
		t, err := os.Readlink(cur)
		if err != nil {
			return storepath.Path{}, fmt.Errorf("follow %s to the store: %w", link, err)
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(cur), t)
		}
		cur = t
	}
	return storepath.Path{}, fmt.Errorf("follow %s to the store: too many levels of symbolic links", link)
}

// Update changes profile under its lock: it reads the current manifest,
// lets edit change it, builds the new environment and makes it the new
// current generation (unless it equals the newest one). It returns the
// new environment and generation link.
func Update(ctx context.Context, st Store, profile string, edit func(m *Manifest) error) (env storepath.Path, gen string, res *EnvResult, err error) {
	lock, err := LockProfile(ctx, profile)
	if err != nil {
		return env, "", nil, err
	}
	defer func() { err = errors.Join(err, lock.Unlock()) }()
	m, err := ReadManifest(st, profile)
	if err != nil {
		return env, "", nil, err
	}
	if err := edit(m); err != nil {
		return env, "", nil, err
	}
	env, res, err = NewProfileEnv(ctx, st, m)
	if err != nil {
		return env, "", nil, err
	}
	gen, err = CreateGeneration(ctx, st, profile, env)
	if err != nil {
		return env, "", nil, err
	}
	if err := SwitchLink(profile, gen); err != nil {
		return env, "", nil, fmt.Errorf("switch profile %s: %w", profile, err)
	}
	return env, gen, res, nil
}
