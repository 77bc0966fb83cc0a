package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/internal/build"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/binarycache"
	"cairn/internal/store/local"
	"cairn/internal/store/narinfocache"
)

// This file holds what substitution needs from the configuration: the
// settings substituters, extra-substituters, trusted-public-keys,
// extra-trusted-public-keys, require-sigs, max-substitution-jobs,
// http-connections and the narinfo disk cache's TTLs, read from NIX_CONFIG and --option as Nix names them; opening
// binary cache URLs with their query parameters; and the build
// Scheduler's Substituter.

// cacheSettings are the effective substitution settings.
type cacheSettings struct {
	substituters []string
	trustedKeys  []string
	requireSigs  bool
	positiveTTL  time.Duration // narinfo-cache-positive-ttl
	negativeTTL  time.Duration // narinfo-cache-negative-ttl
	jobs         int           // max-substitution-jobs; 0: binarycache's default
	connections  int           // http-connections; 0: binarycache's default

	// observer, if set, is told about downloads (a progress display);
	// not a setting.
	observer binarycache.Observer
}

// resolveCacheSettings reads the substitution settings from NIX_CONFIG,
// then --option. Unlike Nix, substituters defaults to none (Nix's
// default is https://cache.nixos.org/): cairn does not reach the
// network unless told to.
func resolveCacheSettings(f *Factory, c *StoreFlags) (cacheSettings, error) {
	cs := cacheSettings{
		trustedKeys: []string{defaultTrustedKey},
		requireSigs: true,
		positiveTTL: 30 * 24 * time.Hour,
		negativeTTL: time.Hour,
	}
	for _, st := range append(parseConfig(f.getenv("NIX_CONFIG")), c.Settings...) {
		switch st.Name {
		case "substituters":
			cs.substituters = strings.Fields(st.Value)
		case "extra-substituters":
			cs.substituters = append(cs.substituters, strings.Fields(st.Value)...)
		case "trusted-public-keys":
			cs.trustedKeys = strings.Fields(st.Value)
		case "extra-trusted-public-keys":
			cs.trustedKeys = append(cs.trustedKeys, strings.Fields(st.Value)...)
		case "require-sigs":
			b, err := parseBool(st)
			if err != nil {
				return cs, err
			}
			cs.requireSigs = b
		case "max-substitution-jobs", "http-connections":
			n, err := strconv.ParseUint(st.Value, 10, 16)
			if err != nil {
				return cs, fmt.Errorf("configuration setting '%s' should be a non-negative integer, got '%s'", st.Name, st.Value)
			}
			// 0 means no limit in Nix; the defaults are limit enough.
			if st.Name == "max-substitution-jobs" {
				cs.jobs = int(n)
			} else {
				cs.connections = int(n)
			}
		case "narinfo-cache-positive-ttl", "narinfo-cache-negative-ttl":
			n, err := strconv.ParseUint(st.Value, 10, 32)
			if err != nil {
				return cs, fmt.Errorf("configuration setting '%s' should be a non-negative integer, got '%s'", st.Name, st.Value)
			}
			if st.Name == "narinfo-cache-positive-ttl" {
				cs.positiveTTL = time.Duration(n) * time.Second
			} else {
				cs.negativeTTL = time.Duration(n) * time.Second
			}
		}
	}
	return cs, nil
}

// trusted parses the trusted public keys.
func (cs cacheSettings) trusted() (signature.TrustedKeys, error) {
	tk, err := signature.ParseTrustedKeys(strings.Join(cs.trustedKeys, " "))
	if err != nil {
		return nil, fmt.Errorf("configuration setting 'trusted-public-keys': %w", err)
	}
	return tk, nil
}

// isCacheURL reports whether s names a binary cache rather than a local
// store.
func isCacheURL(s string) bool {
	return strings.HasPrefix(s, "file://") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// cacheURLParams are the query parameters of a binary cache URL that
// cairn understands (Nix's BinaryCacheStore settings).
type cacheURLParams struct {
	compression     string
	secretKey       string // file name
	writeNarListing bool
	priority        int
	hasPriority     bool
}

// splitCacheURL separates a cache URL from its query parameters.
// Parameters cairn does not know are an error, so a typo is not silently
// ignored.
func splitCacheURL(s string) (string, cacheURLParams, error) {
	var p cacheURLParams
	base, query, _ := strings.Cut(s, "?")
	if query == "" {
		return base, p, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", p, fmt.Errorf("binary cache URL '%s': %w", s, err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "compression":
			p.compression = v
		case "secret-key":
			p.secretKey = v
		case "write-nar-listing":
			p.writeNarListing = v == "true" || v == "1"
		case "priority":
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", p, fmt.Errorf("binary cache URL '%s': priority '%s' is not an integer", s, v)
			}
			p.priority, p.hasPriority = n, true
		case "trusted", "want-mass-query", "parallel-compression", "compression-level", "index-debug-info":
			// Accepted as Nix does; cairn has no use for them.
		default:
			return "", p, fmt.Errorf("binary cache URL '%s': unknown setting '%s'", s, k)
		}
	}
	return base, p, nil
}

// openCache opens the binary cache at rawURL (with query parameters)
// under the given settings; create makes a file:// cache for writing.
func openCache(ctx context.Context, f *Factory, rawURL string, dir storepath.Dir, cs cacheSettings, disk *narinfocache.Cache, checkSigs, create bool) (*binarycache.Cache, cacheURLParams, error) {
	base, params, err := splitCacheURL(rawURL)
	if err != nil {
		return nil, params, err
	}
	tk, err := cs.trusted()
	if err != nil {
		return nil, params, err
	}
	opts := binarycache.Options{
		URL:             base,
		StoreDir:        dir,
		TrustedKeys:     tk,
		RequireSigs:     checkSigs && cs.requireSigs,
		Create:          create,
		Compression:     params.compression,
		WriteNarListing: params.writeNarListing,
		Jobs:            cs.jobs,
		Parallel:        cs.connections,
		Observer:        cs.observer,
	}
	if params.secretKey != "" {
		sk, err := readSecretKeyFile(f, params.secretKey)
		if err != nil {
			return nil, params, err
		}
		opts.SecretKey = &sk
	}
	if disk != nil && !strings.HasPrefix(base, "file://") {
		// As binarycache's default transport (no proxy from the
		// environment), with the narinfo disk cache in front.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = cmp.Or(cs.connections, 16)
		opts.Client = &http.Client{Transport: disk.Transport(tr, dir)}
	}
	c, err := binarycache.Open(ctx, opts)
	return c, params, err
}

// openDiskCache opens the narinfo disk cache,
// $XDG_CACHE_HOME/cairn/binary-cache-v6.sqlite (default ~/.cache), with
// the configured TTLs. Without a home directory, or if it cannot be
// opened (a warning), there is none: nil.
func openDiskCache(ctx context.Context, f *Factory, cs cacheSettings) *narinfocache.Cache {
	base := f.getenv("XDG_CACHE_HOME")
	if base == "" {
		home := f.getenv("HOME")
		if home == "" {
			return nil
		}
		base = filepath.Join(home, ".cache")
	}
	neg := cs.negativeTTL
	if neg == 0 {
		neg = -1 // narinfo-cache-negative-ttl = 0: no negative entries
	}
	pos := cs.positiveTTL
	if pos == 0 {
		return nil // nothing would be believed
	}
	disk, err := narinfocache.Open(ctx, filepath.Join(base, "cairn", "binary-cache-v6.sqlite"), narinfocache.Options{PositiveTTL: pos, NegativeTTL: neg})
	if err != nil {
		fmt.Fprintf(f.Stderr, "warning: %v\n", err)
		return nil
	}
	return disk
}

// openSubstituters opens the configured substituters, sorted by priority
// (a priority=N URL parameter overrides nix-cache-info's). A cache that
// cannot be opened is left out with a warning, as Nix does.
func openSubstituters(ctx context.Context, f *Factory, dir storepath.Dir, cs cacheSettings, disk *narinfocache.Cache, warn io.Writer) binarycache.Substituters {
	var caches []*binarycache.Cache
	prio := map[*binarycache.Cache]int{}
	for _, u := range cs.substituters {
		c, params, err := openCache(ctx, f, u, dir, cs, disk, true, false)
		if err != nil {
			fmt.Fprintf(warn, "warning: %v\n", err)
			continue
		}
		prio[c] = c.Info().Priority
		if params.hasPriority {
			prio[c] = params.priority
		}
		caches = append(caches, c)
	}
	// SortByPriority uses nix-cache-info; apply URL overrides with a
	// stable insertion sort of our own.
	out := binarycache.SortByPriority(caches)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && prio[out[j]] < prio[out[j-1]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// cacheSubstituter is the build Scheduler's Substituter: before a
// derivation is built, its outputs are looked up in the substituters
// and, if every one is offered acceptably, downloaded instead. The
// caches are opened on first use.
type cacheSubstituter struct {
	f    *Factory
	st   *local.Store
	cs   cacheSettings
	warn io.Writer

	once   sync.Once
	caches binarycache.Substituters
}

var _ build.Substituter = (*cacheSubstituter)(nil)

// Substitute implements build.Substituter. Outputs no cache offers are
// not an error: the derivation is then built. A failed download is an
// error, as in Nix without --fallback.
func (s *cacheSubstituter) Substitute(ctx context.Context, paths []storepath.Path) (bool, error) {
	s.once.Do(func() {
		// The disk cache stays open for the life of the process.
		s.caches = openSubstituters(ctx, s.f, s.st.Dir(), s.cs, openDiskCache(ctx, s.f, s.cs), s.warn)
	})
	if len(s.caches) == 0 {
		return false, nil
	}
	from := make([]*binarycache.Cache, len(paths))
	for i, p := range paths {
		for _, c := range s.caches {
			ni, err := c.NarInfo(ctx, p)
			if err == nil && c.CheckSignatures(ni) == nil {
				from[i] = c
				break
			}
		}
		if from[i] == nil {
			return false, nil
		}
	}
	if s.cs.observer == nil {
		for i, p := range paths {
			fmt.Fprintf(s.warn, "copying path '%s' from '%s'...\n", s.st.Dir().Print(p), from[i])
		}
	}
	if err := s.caches.Substitute(ctx, s.st, paths); err != nil {
		return false, err
	}
	return true, nil
}

// buildSubstituter returns the Substituter for building into st with
// the configured substituters, or nil when none are configured. It is
// the hook newBuilder calls. obs, if not nil, is told about downloads
// (and then prints the "copying path" lines).
func buildSubstituter(f *Factory, c *StoreFlags, st *local.Store, obs binarycache.Observer) (build.Substituter, error) {
	cs, err := resolveCacheSettings(f, c)
	if err != nil || len(cs.substituters) == 0 {
		return nil, err
	}
	cs.observer = obs
	return &cacheSubstituter{f: f, st: st, cs: cs, warn: f.Stderr}, nil
}

// substitutePlainPath makes the invalid store path p valid from the
// configured substituters (nix-store -r on a path that is not a
// derivation), with its closure.
func substitutePlainPath(ctx context.Context, f *Factory, c *StoreFlags, st *local.Store, p storepath.Path) error {
	sub, err := buildSubstituter(f, c, st, nil)
	if err != nil {
		return err
	}
	if sub != nil {
		ok, err := sub.Substitute(ctx, []storepath.Path{p})
		if ok || err != nil {
			return err
		}
	}
	return fmt.Errorf("path '%s' is not valid and there is no substituter to fetch it", st.Dir().Print(p))
}
