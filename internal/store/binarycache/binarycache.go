// Package binarycache reads and writes Nix binary caches, file:// and
// http(s):// (written with HTTP PUT, as Nix does), in the layout of
// Nix 2.8 (src/libstore/binary-cache-store.cc):
//
//	nix-cache-info           StoreDir, WantMassQuery, Priority
//	<hashpart>.narinfo       path metadata (package compat/narinfo)
//	<hashpart>.ls            NAR listing (write-nar-listing)
//	nar/<filehash>.nar[.xz]  the NAR, possibly compressed
//
// A Cache is a store.Store. Everything read from a cache is checked
// before it reaches the destination store: the narinfo must describe the
// path it was asked for, in our store directory; with RequireSigs it
// must carry a signature by a trusted key (or have a content address
// that computes to the path); the NAR is decompressed (none, xz, bzip2,
// gzip, zstd) while its size and sha256 are checked against the narinfo
// (and the file's size against FileSize when given; FileHash is not
// checked, as in Nix), and the last byte of the NAR is only handed out
// once every check passed, so a store that restores the stream and
// registers the path after the last read (local.AddNar) never registers
// a path that fails any check. Substitute leaves the NAR's sha256 to the
// destination store, whose AddNar checks it (store.Store's contract),
// instead of hashing every NAR twice.
//
// Over HTTP, requests that fail before the body arrives (network errors,
// 5xx, 429) are retried with exponential backoff, a server that sends
// nothing for StallTimeout is abandoned (ErrStalled), a download that
// breaks off mid-stream is resumed from where it stopped with a range
// request (Retries times per download), and Substitute retries a path
// whose download could not be resumed.
package binarycache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// Options configure Open.
type Options struct {
	// URL is file:///abs/dir or http(s)://host/path.
	URL string
	// StoreDir is the store directory the cache must be for; default
	// /nix/store.
	StoreDir storepath.Dir
	// TrustedKeys verify narinfo signatures (trusted-public-keys).
	TrustedKeys signature.TrustedKeys
	// RequireSigs refuses paths without a valid signature by a trusted
	// key, unless their content address computes to the path.
	RequireSigs bool

	// Client is used for http(s) caches; default a new client.
	Client *http.Client
	// StallTimeout abandons a request once the server sent nothing for
	// this long; default 60s.
	StallTimeout time.Duration
	// Retries is how often a transient failure is retried; default 3,
	// negative for none.
	Retries int
	// RetryBackoff is the delay before the first retry, doubled after
	// each; default 250ms.
	RetryBackoff time.Duration
	// Parallel bounds concurrent narinfo queries; default 16.
	Parallel int
	// Jobs bounds concurrent NAR downloads in Substitute; default: the
	// number of CPUs for file:// caches, 4 for http(s)://.
	Jobs int
	// Observer, if set, is told about Substitute's downloads (that of
	// the first cache of Substituters, as for Jobs).
	Observer Observer

	// Writer settings.
	// Create creates the cache directory (file://) and nix-cache-info
	// (file:// and http(s)://, uploaded with PUT) if missing.
	Create bool
	// Compression of NARs written: "xz" (default, as Nix), "zstd",
	// "gzip" or "none".
	Compression string
	// SecretKey, if set, signs every narinfo written.
	SecretKey *signature.SecretKey
	// WriteNarListing writes <hashpart>.ls next to each narinfo.
	WriteNarListing bool
}

// Info is the content of nix-cache-info.
type Info struct {
	StoreDir      storepath.Dir
	WantMassQuery bool
	Priority      int
}

// Cache is a binary cache. It is safe for concurrent use.
type Cache struct {
	opts Options
	be   backend
	root string // file:// caches: the directory
	info Info

	mu       sync.Mutex
	narinfos map[storepath.Path]*narinfo.NarInfo
	decoders decoders
}

var _ store.Store = (*Cache)(nil)

// Open opens the cache at opts.URL and reads its nix-cache-info, which
// must name our store directory.
func Open(ctx context.Context, opts Options) (*Cache, error) {
	if opts.StoreDir == "" {
		opts.StoreDir = storepath.DefaultDir
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 60 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 250 * time.Millisecond
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 16
	}
	if opts.Compression == "" {
		opts.Compression = "xz"
	}
	if opts.TrustedKeys == nil {
		opts.TrustedKeys = signature.TrustedKeys{}
	}
	c := &Cache{opts: opts, narinfos: map[storepath.Path]*narinfo.NarInfo{}}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open binary cache: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
			return nil, fmt.Errorf("open binary cache '%s': want file:///absolute/path without query", opts.URL)
		}
		c.root = filepath.Clean(u.Path)
		c.be = &fileBackend{root: c.root}
		if c.opts.Jobs <= 0 {
			// Reading a file does not wait on a network: a NAR per
			// CPU keeps them busy decompressing, and more only share
			// the caches and hold more 8 MiB xz dictionaries (xz,
			// 1 GiB closure: 3% faster and 35% less memory than 4).
			c.opts.Jobs = max(runtime.NumCPU(), 1)
		}
		if opts.Create {
			if err := c.create(ctx); err != nil {
				return nil, err
			}
		}
	case "http", "https":
		client := opts.Client
		if client == nil {
			// No proxy from the environment (nothing below the CLI
			// reads it); keep a connection per parallel query.
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.Proxy = nil
			tr.MaxIdleConnsPerHost = opts.Parallel
			tr.DialContext = fewDials(tr.DialContext, maxDialing)
			client = &http.Client{Transport: tr}
		}
		base := *u
		if !strings.HasSuffix(base.Path, "/") {
			base.Path += "/"
		}
		c.be = &httpBackend{base: &base, client: client, stall: opts.StallTimeout, retries: opts.Retries, backoff: opts.RetryBackoff}
	default:
		return nil, fmt.Errorf("open binary cache '%s': unsupported scheme '%s' (want file, http or https)", opts.URL, u.Scheme)
	}
	if c.opts.Jobs <= 0 {
		c.opts.Jobs = 4
	}
	rc, err := c.be.get(ctx, "nix-cache-info")
	if errors.Is(err, errNotFound) && opts.Create && c.root == "" {
		// As Nix's BinaryCacheStore::init: a new http(s) cache gets
		// its nix-cache-info uploaded.
		if err := c.writeFile(ctx, "nix-cache-info", []byte(c.cacheInfo()), typeCacheInfo); err != nil {
			return nil, fmt.Errorf("create binary cache '%s': %w", c.be, err)
		}
		rc, err = c.be.get(ctx, "nix-cache-info")
	}
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("open binary cache '%s': no nix-cache-info: not a binary cache", c.be)
	}
	if err != nil {
		return nil, fmt.Errorf("open binary cache '%s': %w", c.be, err)
	}
	defer rc.Close()
	info, err := ParseInfo(io.LimitReader(rc, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("open binary cache '%s': %w", c.be, err)
	}
	if info.StoreDir != "" && info.StoreDir != opts.StoreDir {
		return nil, fmt.Errorf("binary cache '%s' is for Nix stores with prefix '%s', not '%s'", c.be, info.StoreDir, opts.StoreDir)
	}
	info.StoreDir = opts.StoreDir
	c.info = info
	return c, nil
}

// ParseInfo parses nix-cache-info: "Key: value" lines, values trimmed;
// lines without a colon and unknown keys are ignored, as in Nix.
func ParseInfo(r io.Reader) (Info, error) {
	var info Info
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "StoreDir":
			info.StoreDir = storepath.Dir(v)
		case "WantMassQuery":
			info.WantMassQuery = v == "1"
		case "Priority":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Info{}, fmt.Errorf("nix-cache-info:%d: invalid Priority '%s'", line, v)
			}
			info.Priority = n
		}
	}
	if err := sc.Err(); err != nil {
		return Info{}, fmt.Errorf("read nix-cache-info: %w", err)
	}
	return info, nil
}

// Info returns the cache's nix-cache-info.
func (c *Cache) Info() Info { return c.info }

// String returns the cache URL.
func (c *Cache) String() string { return c.be.String() }

// Dir returns the store directory.
func (c *Cache) Dir() storepath.Dir { return c.opts.StoreDir }

func (c *Cache) print(p storepath.Path) string { return c.opts.StoreDir.Print(p) }

// NarInfo returns the narinfo of p, checked to describe p in our store
// directory. A path the cache does not have is a *store.NotValidError.
// Results are remembered for the life of c.
func (c *Cache) NarInfo(ctx context.Context, p storepath.Path) (*narinfo.NarInfo, error) {
	c.mu.Lock()
	ni := c.narinfos[p]
	c.mu.Unlock()
	if ni != nil {
		return ni, nil
	}
	name := p.HashPart() + ".narinfo"
	rc, err := c.be.get(ctx, name)
	if errors.Is(err, errNotFound) {
		return nil, &store.NotValidError{Path: c.print(p)}
	}
	if err != nil {
		return nil, fmt.Errorf("query %s in '%s': %w", c.print(p), c.be, err)
	}
	defer rc.Close()
	ni, err = narinfo.Parse(rc)
	if err != nil {
		return nil, fmt.Errorf("NAR info file '%s/%s' is corrupt: %w", c.be, name, err)
	}
	if ni.StoreDir != c.opts.StoreDir || ni.StorePath != p {
		return nil, fmt.Errorf("NAR info file '%s/%s' describes '%s', not '%s'", c.be, name, ni.StoreDir.Print(ni.StorePath), c.print(p))
	}
	c.mu.Lock()
	c.narinfos[p] = ni
	c.mu.Unlock()
	return ni, nil
}

// NarInfos queries the narinfos of paths with up to Options.Parallel
// requests at a time. Paths the cache lacks are absent from the result;
// any other failure is returned.
func (c *Cache) NarInfos(ctx context.Context, paths []storepath.Path) (map[storepath.Path]*narinfo.NarInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = map[storepath.Path]*narinfo.NarInfo{}
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, c.opts.Parallel)
	)
	for _, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ni, err := c.NarInfo(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[p] = ni
			case errors.Is(err, store.ErrNotValid):
			case firstErr == nil:
				firstErr = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// IsValid reports whether the cache has a narinfo for p.
func (c *Cache) IsValid(ctx context.Context, p storepath.Path) (bool, error) {
	_, err := c.NarInfo(ctx, p)
	if errors.Is(err, store.ErrNotValid) {
		return false, nil
	}
	return err == nil, err
}

// PathInfo converts a narinfo to store metadata.
func PathInfo(ni *narinfo.NarInfo) *store.PathInfo {
	return &store.PathInfo{
		Path:       ni.StorePath,
		Deriver:    ni.Deriver,
		NarHash:    ni.NarHash,
		NarSize:    ni.NarSize,
		References: append([]storepath.Path(nil), ni.References...),
		Signatures: append([]string(nil), ni.Sigs...),
		CA:         ni.CA,
	}
}

// QueryPathInfo returns the metadata of p from its narinfo.
func (c *Cache) QueryPathInfo(ctx context.Context, p storepath.Path) (*store.PathInfo, error) {
	ni, err := c.NarInfo(ctx, p)
	if err != nil {
		return nil, err
	}
	return PathInfo(ni), nil
}

// CheckSignatures returns an error unless ni may be trusted: RequireSigs
// is off, or a trusted key signed it, or its content address computes to
// its path (Nix's checkSignatures).
func (c *Cache) CheckSignatures(ni *narinfo.NarInfo) error {
	if !c.opts.RequireSigs {
		return nil
	}
	if ni.HasCA() && PathInfo(ni).CheckCA(c.opts.StoreDir) == nil {
		return nil
	}
	if ni.CountValidSigs(c.opts.TrustedKeys) > 0 {
		return nil
	}
	return fmt.Errorf("cannot add path '%s' because it lacks a signature by a trusted key", c.print(ni.StorePath))
}

// OpenNar returns the NAR of the path ni describes, decompressed and
// checked as described in the package comment. The caller must close
// it.
func (c *Cache) OpenNar(ctx context.Context, ni *narinfo.NarInfo) (io.ReadCloser, error) {
	v, err := c.openNar(ctx, ni, true, nil)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// openNar is OpenNar; with checkNar false, the NAR's hash is left to the
// reader (see newVerifier).
func (c *Cache) openNar(ctx context.Context, ni *narinfo.NarInfo, checkNar bool, progress func(uint64)) (*verifier, error) {
	rc, err := c.be.get(ctx, ni.URL)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("download NAR of '%s': '%s/%s' does not exist", c.print(ni.StorePath), c.be, ni.URL)
	}
	if err != nil {
		return nil, fmt.Errorf("download NAR of '%s': %w", c.print(ni.StorePath), err)
	}
	v, err := newVerifier(&c.decoders, rc, ni, c.print(ni.StorePath), checkNar, progress)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return v, nil
}

// NarFromPath writes the checked NAR of p to w.
func (c *Cache) NarFromPath(ctx context.Context, p storepath.Path, w io.Writer) error {
	ni, err := c.NarInfo(ctx, p)
	if err != nil {
		return err
	}
	r, err := c.OpenNar(ctx, ni)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// maxDialing bounds the connections being opened at once to one cache.
const maxDialing = 4

// fewDials returns dial limited to n connection attempts at a time. A
// small server listens with a short backlog (busybox httpd: 9) and drops
// the SYNs of a burst beyond it, which the kernel retries only after a
// second: 16 parallel narinfo queries against such a server, which also
// closes every connection, stalled a whole substitution for that second
// (128 MiB closure: 1.32 s, 0.32 s with this). Opened connections are
// not limited. It does not help against python3 -m http.server (backlog
// 5), which accepts too slowly while its threads send files.
func fewDials(dial func(ctx context.Context, network, addr string) (net.Conn, error), n int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	sem := make(chan struct{}, n)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-sem }()
		return dial(ctx, network, addr)
	}
}
