package narinfocache

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/storepath"
)

// maxNarInfo bounds the size of a narinfo the transport reads to
// remember it; a larger one is passed through unremembered.
const maxNarInfo = 1 << 20

// Transport returns an http.RoundTripper that answers GET requests for
// <cache URL>/<hashpart>.narinfo from c when it remembers them (a 200
// with the narinfo, or a 404 for a negative entry) and otherwise asks
// base and remembers a narinfo it gets (200) or its absence (404). Other
// requests go to base unchanged. A failing disk cache never fails a
// request: the transport then behaves as base. dir is the store
// directory of the caches' paths.
func (c *Cache) Transport(base http.RoundTripper, dir storepath.Dir) http.RoundTripper {
	return &transport{c: c, base: base, dir: dir}
}

type transport struct {
	c    *Cache
	base http.RoundTripper
	dir  storepath.Dir
}

// narinfoRequest splits a request for a narinfo into the cache URL and
// the hash part; ok is false for any other request.
func narinfoRequest(req *http.Request) (cacheURL, hashPart string, ok bool) {
	if req.Method != http.MethodGet || req.URL.RawQuery != "" {
		return "", "", false
	}
	base := path.Base(req.URL.Path)
	hashPart, ok = strings.CutSuffix(base, ".narinfo")
	if !ok || len(hashPart) != 32 {
		return "", "", false
	}
	u := *req.URL
	u.Path = strings.TrimSuffix(strings.TrimSuffix(req.URL.Path, base), "/")
	u.RawPath, u.Fragment, u.User = "", "", nil
	return u.String(), hashPart, true
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	cacheURL, hashPart, ok := narinfoRequest(req)
	if !ok {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	switch outcome, ni, err := t.c.Lookup(ctx, cacheURL, hashPart, t.dir); {
	case err != nil:
	case outcome == Present:
		return response(req, http.StatusOK, []byte(ni.String())), nil
	case outcome == Missing:
		return response(req, http.StatusNotFound, []byte("404 not found (remembered)\n")), nil
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		t.c.PutMissing(ctx, cacheURL, hashPart, t.dir)
		return resp, nil
	case http.StatusOK:
	default:
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxNarInfo+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", req.URL, err)
	}
	if len(data) <= maxNarInfo {
		if ni, err := narinfo.Parse(bytes.NewReader(data)); err == nil && ni.StoreDir == t.dir && ni.StorePath.HashPart() == hashPart {
			t.c.Put(ctx, cacheURL, ni)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func response(req *http.Request, code int, body []byte) *http.Response {
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/x-nix-narinfo"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
