// Package cacheserver serves a store as a Nix binary cache over HTTP, in
// the layout Nix's http binary cache client reads (like nix-serve and
// harmonia):
//
//	GET /nix-cache-info                  StoreDir, WantMassQuery, Priority
//	GET /<hashpart>.narinfo              path metadata, signed with the configured key
//	GET /<hashpart>.ls                   NAR listing (JSON)
//	GET /nar/<hashpart>-<narhash>.nar    the NAR, streamed; byte ranges supported
//	GET /nar/<hashpart>-<narhash>.nar.zst  the NAR, zstd-compressed while streamed
//	GET /log/<base name of a .drv path>  the build log (text), if the store keeps one
//
// The <narhash> (nix32 sha256 of the NAR) in NAR URLs ties a URL to one
// content: a URL whose hash no longer matches the path is 404. The forms
// without "-<narhash>" are served too. HEAD works on every file. NARs are
// produced on the fly from Store.NarFromPath; narinfos for uncompressed
// NARs carry FileHash = NarHash and FileSize = NarSize, those for zstd
// omit both (the compressed size is not known in advance; Nix accepts
// that, as it does from nix-serve).
//
// A failure after the response started aborts the connection
// (http.ErrAbortHandler), so a client sees a truncated transfer, never a
// complete-looking wrong one.
package cacheserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// HashPartStore is a store that can find a valid path by its hash part
// (local.Store can).
type HashPartStore interface {
	store.Store
	// QueryPathFromHashPart returns the valid path with the given hash
	// part, or an error matching store.ErrNotValid.
	QueryPathFromHashPart(ctx context.Context, hashPart string) (storepath.Path, error)
}

// LogStore is a store that keeps build logs (local.Store does). The
// handler serves them if its store is one.
type LogStore interface {
	// OpenBuildLog returns the text of the build log of drv, or an error
	// matching fs.ErrNotExist if there is none.
	OpenBuildLog(drv storepath.Path) (io.ReadCloser, error)
}

// Options configure a Handler.
type Options struct {
	// Priority and WantMassQuery go into nix-cache-info (Priority 0 is
	// left out, so clients use their default).
	Priority      int
	WantMassQuery bool
	// SecretKey, if set, adds its signature to every narinfo served.
	SecretKey *signature.SecretKey
	// Compression of the NAR URL narinfos point to: "none" (default) or
	// "zstd". Both forms are served either way.
	Compression string
}

// Handler serves a store as a binary cache.
type Handler struct {
	s    HashPartStore
	opts Options
}

// New returns a Handler serving s.
func New(s HashPartStore, opts Options) (*Handler, error) {
	switch opts.Compression {
	case "":
		opts.Compression = "none"
	case "none", "zstd":
	default:
		return nil, fmt.Errorf("serve binary cache: unsupported compression '%s' (want none or zstd)", opts.Compression)
	}
	return &Handler{s: s, opts: opts}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/nix-cache-info":
		h.cacheInfo(w)
	case strings.HasPrefix(p, "/log/"):
		h.buildLog(w, r, strings.TrimPrefix(p, "/log/"))
	case strings.HasPrefix(p, "/nar/"):
		h.nar(w, r, strings.TrimPrefix(p, "/nar/"))
	case strings.HasSuffix(p, ".narinfo"):
		h.narinfo(w, r, strings.TrimSuffix(p[1:], ".narinfo"))
	case strings.HasSuffix(p, ".ls"):
		h.listing(w, r, strings.TrimSuffix(p[1:], ".ls"))
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) cacheInfo(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString("StoreDir: " + string(h.s.Dir()) + "\n")
	if h.opts.WantMassQuery {
		b.WriteString("WantMassQuery: 1\n")
	}
	if h.opts.Priority != 0 {
		b.WriteString("Priority: " + strconv.Itoa(h.opts.Priority) + "\n")
	}
	w.Header().Set("Content-Type", "text/x-nix-cache-info")
	io.WriteString(w, b.String())
}

// lookup finds the path info for a hash part; it writes the error
// response and returns nil if there is none.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, hashPart string) *store.PathInfo {
	if len(hashPart) != storepath.HashLen || !nixbase32.ValidString(hashPart) {
		http.NotFound(w, r)
		return nil
	}
	p, err := h.s.QueryPathFromHashPart(r.Context(), hashPart)
	if err == nil {
		var info *store.PathInfo
		if info, err = h.s.QueryPathInfo(r.Context(), p); err == nil {
			return info
		}
	}
	if errors.Is(err, store.ErrNotValid) {
		http.NotFound(w, r)
	} else {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	return nil
}

// NarInfo returns the narinfo the handler serves for info.
func (h *Handler) NarInfo(info *store.PathInfo) (*narinfo.NarInfo, error) {
	ni := &narinfo.NarInfo{
		StoreDir: h.s.Dir(), StorePath: info.Path,
		URL:         "nar/" + info.Path.HashPart() + "-" + nixbase32.EncodeToString(info.NarHash.Digest) + ".nar",
		Compression: h.opts.Compression,
		NarHash:     info.NarHash, NarSize: info.NarSize,
		References: info.References, Deriver: info.Deriver,
		Sigs: append([]string(nil), info.Signatures...), CA: info.CA,
	}
	if h.opts.Compression == "zstd" {
		ni.URL += ".zst"
	} else {
		ni.FileHash, ni.FileSize = info.NarHash, info.NarSize
	}
	if h.opts.SecretKey != nil {
		if err := ni.Sign(*h.opts.SecretKey); err != nil {
			return nil, err
		}
	}
	return ni, nil
}

func (h *Handler) narinfo(w http.ResponseWriter, r *http.Request, hashPart string) {
	info := h.lookup(w, r, hashPart)
	if info == nil {
		return
	}
	ni, err := h.NarInfo(info)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body := ni.String()
	w.Header().Set("Content-Type", "text/x-nix-narinfo")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	io.WriteString(w, body)
}

func (h *Handler) listing(w http.ResponseWriter, r *http.Request, hashPart string) {
	info := h.lookup(w, r, hashPart)
	if info == nil {
		return
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(h.s.NarFromPath(r.Context(), info.Path, pw)) }()
	l, err := nar.NewListing(pr)
	pr.CloseWithError(errors.New("listing done"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	js, err := l.MarshalJSON()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(js)))
	w.Write(js)
}

// buildLog serves log/<drv base name>, which Nix's binary cache client
// fetches for nix log (BinaryCacheStore::getBuildLogExact). Anything but
// a valid .drv base name (a '/' or "..", say) is 404.
func (h *Handler) buildLog(w http.ResponseWriter, r *http.Request, base string) {
	ls, ok := h.s.(LogStore)
	drv, err := storepath.ParseBase(base)
	if !ok || err != nil || !drv.IsDerivation() {
		http.NotFound(w, r)
		return
	}
	rc, err := ls.OpenBuildLog(drv)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// nar serves nar/<hashpart>[-<narhash>].nar[.zst].
func (h *Handler) nar(w http.ResponseWriter, r *http.Request, name string) {
	zst := strings.HasSuffix(name, ".nar.zst")
	base, ok := strings.CutSuffix(strings.TrimSuffix(name, ".zst"), ".nar")
	if !ok {
		http.NotFound(w, r)
		return
	}
	hashPart, narHash, withHash := strings.Cut(base, "-")
	info := h.lookup(w, r, hashPart)
	if info == nil {
		return
	}
	if withHash && narHash != nixbase32.EncodeToString(info.NarHash.Digest) {
		http.NotFound(w, r)
		return
	}
	if zst {
		w.Header().Set("Content-Type", "application/zstd")
		if r.Method == http.MethodHead {
			return
		}
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if err := h.s.NarFromPath(r.Context(), info.Path, zw); err != nil {
			panic(http.ErrAbortHandler)
		}
		if err := zw.Close(); err != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	size := int64(info.NarSize)
	start, end, status := int64(0), size-1, http.StatusOK
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/x-nix-nar")
	if rng := r.Header.Get("Range"); rng != "" {
		s, e, ok := parseRange(rng, size)
		if !ok {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			http.Error(w, "requested range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if s >= 0 {
			start, end, status = s, e, http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		}
	}
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	sw := &sliceWriter{w: w, skip: start, left: end - start + 1}
	// NarFromPath may report errDone (however it wraps it) once the
	// range is complete; what counts is whether every byte went out.
	h.s.NarFromPath(r.Context(), info.Path, sw)
	if sw.left > 0 {
		panic(http.ErrAbortHandler)
	}
}

// parseRange parses a single-range "bytes=" header against size. It
// returns start -1 (serve everything) for forms it does not handle
// (several ranges, other units), which RFC 9110 allows, and ok false for
// an unsatisfiable range.
func parseRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return -1, 0, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return -1, 0, true
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return -1, 0, true
		}
		if n == 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return -1, 0, true
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return -1, 0, true
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, false
	}
	return s, e, true
}

var errDone = errors.New("range complete")

// sliceWriter passes on bytes [skip, skip+left) of what is written to it
// and then stops the writer with errDone.
type sliceWriter struct {
	w          io.Writer
	skip, left int64
}

func (s *sliceWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip > 0 {
		k := min(s.skip, int64(len(p)))
		s.skip -= k
		p = p[k:]
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	if len(p) > 0 {
		if _, err := s.w.Write(p); err != nil {
			return 0, err
		}
		s.left -= int64(len(p))
	}
	if s.left == 0 {
		return n, errDone
	}
	return n, nil
}
