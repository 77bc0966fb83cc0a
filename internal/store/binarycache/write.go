package binarycache

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// extensions maps compression methods to NAR file name extensions, as
// Nix names them (gzip gets none).
var extensions = map[string]string{"none": "", "xz": ".xz", "bzip2": ".bz2", "zstd": ".zst", "gzip": ""}

// compressor returns a writer compressing into w with method.
func compressor(method string, w io.Writer) (io.WriteCloser, error) {
	switch method {
	case "none":
		return nopCloser{w}, nil
	case "xz":
		return xz.NewWriter(w)
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	case "gzip":
		return gzip.NewWriter(w), nil
	}
	return nil, fmt.Errorf("unsupported compression method '%s' for writing (want xz, zstd, gzip or none)", method)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Content types of uploaded files, as Nix's BinaryCacheStore gives them.
const (
	typeCacheInfo = "text/x-nix-cache-info"
	typeNarInfo   = "text/x-nix-narinfo"
	typeNar       = "application/x-nix-nar"
	typeListing   = "application/json"
)

// create makes the directory layout of a new file:// cache, as Nix does
// when it opens one.
func (c *Cache) create(ctx context.Context) error {
	for _, d := range []string{"", "nar", "log", "realisations"} {
		if err := os.MkdirAll(filepath.Join(c.root, d), 0o755); err != nil {
			return fmt.Errorf("create binary cache: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.root, "nix-cache-info")); err == nil {
		return nil
	}
	return c.writeFile(ctx, "nix-cache-info", []byte(c.cacheInfo()), typeCacheInfo)
}

// cacheInfo is the nix-cache-info of a new cache.
func (c *Cache) cacheInfo() string { return "StoreDir: " + string(c.opts.StoreDir) + "\n" }

// writeFile writes name: in a file:// cache atomically (temp file +
// rename), in an http(s):// cache by a PUT with contentType.
func (c *Cache) writeFile(ctx context.Context, name string, data []byte, contentType string) error {
	if hb, ok := c.be.(*httpBackend); ok {
		return hb.put(ctx, name, bytes.NewReader(data), int64(len(data)), contentType)
	}
	dst := filepath.Join(c.root, filepath.FromSlash(name))
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// AddNar writes the path info describes, with the NAR read from r, to
// the cache: the compressed NAR first, then the listing, the narinfo
// (signed with Options.SecretKey) last, so that a reader never sees a
// narinfo without its NAR. A file:// cache gets each file by temp file
// and rename; an http(s):// cache by a PUT of each (the NAR is spooled
// to a temporary file first, as its name is the hash of its bytes). The
// NAR is parsed while it is copied and must match info.NarHash and
// info.NarSize. Every reference must be in the cache already. A path
// the cache has is left alone.
func (c *Cache) AddNar(ctx context.Context, info *store.PathInfo, r io.Reader) error {
	hb, isHTTP := c.be.(*httpBackend)
	if ok, err := c.IsValid(ctx, info.Path); err != nil || ok {
		return err
	}
	if info.NarHash.Algo != nixhash.SHA256 {
		return fmt.Errorf("add %s: NAR hash must be sha256", c.print(info.Path))
	}
	if err := info.CheckCA(c.opts.StoreDir); err != nil {
		return fmt.Errorf("add %s: %w", c.print(info.Path), err)
	}
	for _, ref := range info.References {
		if ref == info.Path {
			continue
		}
		if ok, err := c.IsValid(ctx, ref); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("cannot add '%s' to the binary cache because the reference '%s' is not valid", c.print(info.Path), c.print(ref))
		}
	}
	ext, ok := extensions[c.opts.Compression]
	if !ok {
		return fmt.Errorf("add %s: unsupported compression method '%s'", c.print(info.Path), c.opts.Compression)
	}
	tmpDir := filepath.Join(c.root, "nar")
	if isHTTP {
		tmpDir = "" // the system's temporary directory
	}
	tmp, err := os.CreateTemp(tmpDir, ".tmp-")
	if err != nil {
		return fmt.Errorf("add %s: %w", c.print(info.Path), err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	fileHash := nixhash.NewHasher(nixhash.SHA256)
	cw, err := compressor(c.opts.Compression, io.MultiWriter(tmp, fileHash))
	if err != nil {
		return fmt.Errorf("add %s: %w", c.print(info.Path), err)
	}
	narHash := nixhash.NewHasher(nixhash.SHA256)
	listing, err := nar.NewListing(io.TeeReader(io.TeeReader(r, narHash), cw))
	if err != nil {
		return fmt.Errorf("add %s: %w", c.print(info.Path), err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("add %s: compress: %w", c.print(info.Path), err)
	}
	if got := narHash.Sum(); !got.Equal(info.NarHash) || narHash.Len() != info.NarSize {
		return fmt.Errorf("add %s: NAR does not match its path info: got %s, %d bytes; want %s, %d bytes", c.print(info.Path),
			got.Encode(nixhash.Nix32, true), narHash.Len(), info.NarHash.Encode(nixhash.Nix32, true), info.NarSize)
	}
	fh := fileHash.Sum()
	narName := "nar/" + nixbase32.EncodeToString(fh.Digest) + ".nar" + ext
	if isHTTP {
		if err := hb.put(ctx, narName, tmp, int64(fileHash.Len()), typeNar); err != nil {
			return fmt.Errorf("add %s: %w", c.print(info.Path), err)
		}
	} else {
		if err := tmp.Chmod(0o644); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("add %s: %w", c.print(info.Path), err)
		}
		if err := os.Rename(tmp.Name(), filepath.Join(c.root, filepath.FromSlash(narName))); err != nil {
			return fmt.Errorf("add %s: %w", c.print(info.Path), err)
		}
	}
	if c.opts.WriteNarListing {
		js, err := listing.MarshalJSON()
		if err != nil {
			return fmt.Errorf("add %s: %w", c.print(info.Path), err)
		}
		if err := c.writeFile(ctx, info.Path.HashPart()+".ls", js, typeListing); err != nil {
			return err
		}
	}
	ni := &narinfo.NarInfo{
		StoreDir: c.opts.StoreDir, StorePath: info.Path, URL: narName, Compression: c.opts.Compression,
		FileHash: fh, FileSize: fileHash.Len(), NarHash: info.NarHash, NarSize: info.NarSize,
		References: store.SortPaths(append([]storepath.Path(nil), info.References...)),
		Deriver:    info.Deriver, Sigs: append([]string(nil), info.Signatures...), CA: info.CA,
	}
	if c.opts.SecretKey != nil {
		if err := ni.Sign(*c.opts.SecretKey); err != nil {
			return err
		}
	}
	if err := c.writeFile(ctx, info.Path.HashPart()+".narinfo", []byte(ni.String()), typeNarInfo); err != nil {
		return err
	}
	c.mu.Lock()
	c.narinfos[info.Path] = ni
	c.mu.Unlock()
	return nil
}

// CopyOptions configure Copy.
type CopyOptions struct {
	// NoClosure copies only the given paths, not their closures.
	NoClosure bool
}

// Copy copies paths and their closures from src to dst, references
// first, skipping paths dst has, streaming each NAR from
// src.NarFromPath into dst.AddNar. It is `nix copy`: with dst a Cache
// it fills a binary cache, with src a Cache it substitutes (see also
// Substitute, which adds signature checks and retries).
func Copy(ctx context.Context, src, dst store.Store, paths []storepath.Path, opts CopyOptions) error {
	all := paths
	if !opts.NoClosure {
		var err error
		if all, err = store.Closure(ctx, src, paths, store.ClosureOptions{}); err != nil {
			return err
		}
	}
	infos := map[storepath.Path]*store.PathInfo{}
	for _, p := range all {
		info, err := src.QueryPathInfo(ctx, p)
		if err != nil {
			return err
		}
		infos[p] = info
	}
	order, err := store.TopoSort(all, func(p storepath.Path) []storepath.Path { return infos[p].References })
	if err != nil {
		return err
	}
	for i := len(order) - 1; i >= 0; i-- {
		if err := copyOne(ctx, src, dst, infos[order[i]]); err != nil {
			return err
		}
	}
	return nil
}

func copyOne(ctx context.Context, src, dst store.Store, info *store.PathInfo) error {
	if ok, err := dst.IsValid(ctx, info.Path); err != nil || ok {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src.NarFromPath(ctx, info.Path, pw)) }()
	err := dst.AddNar(ctx, info, pr)
	pr.CloseWithError(errors.New("copy aborted"))
	if err != nil {
		return fmt.Errorf("copy '%s': %w", src.Dir().Print(info.Path), err)
	}
	return nil
}
