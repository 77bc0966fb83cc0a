package glue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// StoreKind is what a store URL selects.
type StoreKind uint8

const (
	// StoreLocal is a store/local store (the default, "auto", "local",
	// "local?root=/r" or a plain absolute path "/r").
	StoreLocal StoreKind = iota
	// StoreDummy computes paths and writes nothing ("dummy://").
	StoreDummy
)

// StoreURL is a parsed store URL (the --store flag or NIX_REMOTE).
type StoreURL struct {
	Kind StoreKind
	// Root is the chroot root of a local store ("" for none).
	Root string
	// Default reports that no URL was given (or "auto"): the system
	// store, which evaluation may do without when it cannot be written.
	Default bool
	// StoreDir is the logical store directory ("" means /nix/store);
	// callers set it from NIX_STORE_DIR.
	StoreDir storepath.Dir
}

// ErrUnsupportedStore is matched by ParseStoreURL errors for store types
// cairn does not implement (yet).
var ErrUnsupportedStore = errors.New("unsupported store")

type unsupportedStoreError struct{ url string }

func (e *unsupportedStoreError) Error() string {
	return fmt.Sprintf("don't know how to open Nix store '%s' (cairn opens local stores, chroot stores such as /some/root or local?root=/some/root, and dummy://)", e.url)
}

func (e *unsupportedStoreError) Is(target error) bool { return target == ErrUnsupportedStore }

// ParseStoreURL parses a store URL as Nix does for the stores cairn
// supports: "" or "auto" (the default local store), "local", "dummy://",
// "local?root=/r" and an absolute path "/r" (a local store under root /r).
// A relative path is made absolute against the current directory.
func ParseStoreURL(s string) (StoreURL, error) {
	switch s {
	case "", "auto":
		return StoreURL{Kind: StoreLocal, Default: true}, nil
	case "dummy", "dummy://":
		return StoreURL{Kind: StoreDummy}, nil
	case "local":
		return StoreURL{Kind: StoreLocal}, nil
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return StoreURL{}, fmt.Errorf("store '%s': %w", s, err)
		}
		return StoreURL{Kind: StoreLocal, Root: abs}, nil
	}
	if rest, ok := strings.CutPrefix(s, "local?"); ok {
		q, err := url.ParseQuery(rest)
		if err != nil {
			return StoreURL{}, fmt.Errorf("store '%s': %w", s, err)
		}
		root := q.Get("root")
		if root != "" {
			if root, err = filepath.Abs(root); err != nil {
				return StoreURL{}, fmt.Errorf("store '%s': %w", s, err)
			}
		}
		return StoreURL{Kind: StoreLocal, Root: root}, nil
	}
	return StoreURL{}, &unsupportedStoreError{s}
}

// Opener returns the function IO uses to open the store of u for writing,
// or nil for a store that is never written (dummy://).
func (u StoreURL) Opener() func(ctx context.Context) (*local.Store, error) {
	if u.Kind == StoreDummy {
		return nil
	}
	return func(ctx context.Context) (*local.Store, error) {
		st, err := local.Open(ctx, local.Options{Root: u.Root, StoreDir: u.StoreDir})
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil, fmt.Errorf("opening the Nix store: %w (run as a user who can write /nix, or use --store /some/dir for a store under that root, or --store dummy:// to only compute paths)", err)
			}
			return nil, fmt.Errorf("opening the Nix store: %w", err)
		}
		return st, nil
	}
}

// Writable reports whether the store of u can probably be written by this
// process: its real store directory (or the first existing parent) is
// writable. Only a cheap check; opening can still fail.
func (u StoreURL) Writable() bool {
	if u.Kind == StoreDummy {
		return false
	}
	dir := u.StoreDir
	if dir == "" {
		dir = storepath.DefaultDir
	}
	p := filepath.Join(u.Root, string(dir))
	for {
		if _, err := os.Stat(p); err == nil {
			return access(p)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		p = parent
	}
}
