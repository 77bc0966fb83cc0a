package binarycache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrStalled is matched by errors about a server that sent nothing for
// longer than Options.StallTimeout.
var ErrStalled = errors.New("binary cache server stalled")

// errNotFound is returned by a backend for a file the cache does not
// have.
var errNotFound = errors.New("not found")

// transientError marks a failure worth retrying (network errors, 5xx).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t) || errors.Is(err, ErrStalled)
}

// backend fetches files of a cache by their path relative to its root.
type backend interface {
	get(ctx context.Context, name string) (io.ReadCloser, error)
	String() string
}

// checkName checks that a file name from the cache (a narinfo URL) stays
// inside the cache: relative, clean, no "..".
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == ".." ||
		strings.HasPrefix(name, "../") || strings.ContainsAny(name, "\\?#\x00") {
		return fmt.Errorf("file name '%s' is not a plain relative path inside the cache", name)
	}
	return nil
}

// fileBackend reads a file:// cache.
type fileBackend struct{ root string }

func (b *fileBackend) String() string { return "file://" + b.root }

func (b *fileBackend) get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(b.root, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotFound
	}
	return f, err
}

// httpBackend reads an http(s):// cache.
type httpBackend struct {
	base    *url.URL // ends in "/"
	client  *http.Client
	stall   time.Duration
	retries int
	backoff time.Duration
}

func (b *httpBackend) String() string { return strings.TrimSuffix(b.base.String(), "/") }

// get fetches name, retrying transient failures that happen before the
// response body is handed out, with exponential backoff. A body that
// breaks off transiently later is resumed where it stopped (see
// resumeBody).
func (b *httpBackend) get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	u := b.base.ResolveReference(&url.URL{Path: name}).String()
	delay := b.backoff
	for attempt := 0; ; attempt++ {
		body, total, err := b.try(ctx, u, 0)
		if err == nil {
			return &resumeBody{b: b, ctx: ctx, url: u, cur: body, total: total, delay: delay}, nil
		}
		if !isTransient(err) || attempt >= b.retries {
			return nil, err
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
		delay *= 2
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// try sends one GET for u, from byte off on (a range request when off >
// 0), and returns its body and the size of the whole file (-1 if the
// server did not say).
func (b *httpBackend) try(ctx context.Context, u string, off int64) (*stallBody, int64, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(b.stall, func() { cancel(ErrStalled) })
	fail := func(err error) (*stallBody, int64, error) {
		timer.Stop()
		cause := context.Cause(rctx)
		cancel(nil)
		if errors.Is(cause, ErrStalled) {
			return nil, 0, fmt.Errorf("get %s: no response for %v: %w", u, b.stall, ErrStalled)
		}
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(err)
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(&transientError{fmt.Errorf("get %s: %w", u, err)})
	}
	total := resp.ContentLength
	switch {
	case resp.StatusCode == http.StatusOK && off == 0:
	case resp.StatusCode == http.StatusOK:
		resp.Body.Close()
		return fail(fmt.Errorf("get %s: cannot resume the download at byte %d: the server ignored the range request (%s)", u, off, resp.Status))
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		start, n, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != off {
			resp.Body.Close()
			return fail(fmt.Errorf("get %s: cannot resume the download at byte %d: the server answered with Content-Range '%s'", u, off, resp.Header.Get("Content-Range")))
		}
		total = n
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		resp.Body.Close()
		fail(nil)
		return nil, 0, errNotFound
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		resp.Body.Close()
		return fail(&transientError{fmt.Errorf("get %s: %s", u, resp.Status)})
	default:
		resp.Body.Close()
		return fail(fmt.Errorf("get %s: %s", u, resp.Status))
	}
	// From here on the clock runs only while a Read waits, so a slow
	// consumer is not mistaken for a stalled server.
	timer.Stop()
	return &stallBody{body: resp.Body, timer: timer, stall: b.stall, ctx: rctx, cancel: cancel, url: u}, total, nil
}

// parseContentRange parses "bytes first-last/total" (total may be "*":
// -1) and returns first and total.
func parseContentRange(s string) (first, total int64, err error) {
	bad := fmt.Errorf("invalid Content-Range '%s'", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, bad
	}
	a, z, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(z, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, bad
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= last {
			return 0, 0, bad
		}
	}
	return first, total, nil
}

// resumeBody is the body of a GET that, when it breaks off transiently
// (connection reset, stall), is continued from the byte reached with a
// range request, at most httpBackend.retries times per download with
// the backoff doubling. The reader sees one continuous stream. A server
// that answers a range request with the whole file (200) fails the
// download once anything was handed out: nothing can be taken back.
type resumeBody struct {
	b     *httpBackend
	ctx   context.Context
	url   string
	cur   *stallBody // nil after a break, until the next Read resumes
	off   int64      // bytes handed out
	total int64      // size of the whole file, -1 unknown
	tries int        // resumptions so far
	delay time.Duration
	last  error // the break being resumed from
}

func (r *resumeBody) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if err := r.resume(); err != nil {
				return 0, err
			}
		}
		n, err := r.cur.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF {
			if err == io.EOF && r.total >= 0 && r.off != r.total {
				return n, fmt.Errorf("read %s: got %d of %d bytes", r.url, r.off, r.total)
			}
			return n, err
		}
		if !isTransient(err) || r.ctx.Err() != nil || r.tries >= r.b.retries {
			return n, err
		}
		r.cur.Close()
		r.cur = nil
		r.last = err
		if n > 0 {
			return n, nil
		}
	}
}

// resume waits for the backoff and asks for the rest of the file,
// retrying transient failures of that request within the same budget.
func (r *resumeBody) resume() error {
	for {
		r.tries++
		if err := sleep(r.ctx, r.delay); err != nil {
			return err
		}
		r.delay *= 2
		body, total, err := r.b.try(r.ctx, r.url, r.off)
		if err == nil {
			if r.total >= 0 && total >= 0 && total != r.total {
				body.Close()
				return fmt.Errorf("get %s: cannot resume the download at byte %d: the file is now %d bytes, was %d", r.url, r.off, total, r.total)
			}
			r.cur = body
			return nil
		}
		if errors.Is(err, errNotFound) {
			err = fmt.Errorf("get %s: the file disappeared while downloading it", r.url)
		}
		if !isTransient(err) || r.tries >= r.b.retries {
			// Name the break too: whether it was a stall matters.
			return fmt.Errorf("%w (after the download broke off: %w)", err, r.last)
		}
		r.last = err
	}
}

func (r *resumeBody) Close() error {
	if r.cur == nil {
		return nil
	}
	return r.cur.Close()
}

// put uploads size bytes from body as name with an HTTP PUT, as Nix's
// HttpBinaryCacheStore::upsertFile does, retrying transient failures
// (network errors, 5xx, 429) with exponential backoff; body is rewound
// for each attempt. Any other answer but 2xx is an error naming the URL
// and the status.
func (b *httpBackend) put(ctx context.Context, name string, body io.ReadSeeker, size int64, contentType string) error {
	if err := checkName(name); err != nil {
		return err
	}
	u := b.base.ResolveReference(&url.URL{Path: name}).String()
	delay := b.backoff
	for attempt := 0; ; attempt++ {
		err := b.tryPut(ctx, u, body, size, contentType)
		if err == nil || !isTransient(err) || attempt >= b.retries || ctx.Err() != nil {
			return err
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay *= 2
	}
}

func (b *httpBackend) tryPut(ctx context.Context, u string, body io.ReadSeeker, size int64, contentType string) error {
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("upload to %s: %w", u, err)
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The stall clock runs while the request waits for an answer; the
	// body is ours, so sending it cannot stall on the server's account
	// except through the connection, which the clock also covers.
	timer := time.AfterFunc(b.stall, func() { cancel(ErrStalled) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodPut, u, &progressReader{r: io.LimitReader(body, size), timer: timer, stall: b.stall})
	if err != nil {
		return fmt.Errorf("upload to %s: %w", u, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	resp, err := b.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(rctx), ErrStalled) {
			return fmt.Errorf("upload to %s: no progress for %v: %w", u, b.stall, ErrStalled)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &transientError{fmt.Errorf("upload to %s: %w", u, err)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return &transientError{fmt.Errorf("upload to %s: server answered %s", u, resp.Status)}
	default:
		return fmt.Errorf("upload to %s: server answered %s (does it accept uploads?)", u, resp.Status)
	}
}

// progressReader restarts the stall clock whenever the request body is
// read, so a large upload over a slow link is not taken for a stall.
type progressReader struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.timer.Reset(p.stall)
	return p.r.Read(b)
}

// stallBody is a response body whose reads fail with ErrStalled once the
// server sends nothing for the stall timeout.
type stallBody struct {
	body   io.ReadCloser
	timer  *time.Timer
	stall  time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	url    string
}

func (s *stallBody) Read(p []byte) (int, error) {
	s.timer.Reset(s.stall)
	n, err := s.body.Read(p)
	s.timer.Stop()
	if err != nil && err != io.EOF {
		if errors.Is(context.Cause(s.ctx), ErrStalled) {
			return n, fmt.Errorf("read %s: nothing received for %v: %w", s.url, s.stall, ErrStalled)
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = &transientError{fmt.Errorf("read %s: %w", s.url, err)}
		} else {
			err = fmt.Errorf("read %s: %w", s.url, err)
		}
	}
	return n, err
}

func (s *stallBody) Close() error {
	s.timer.Stop()
	err := s.body.Close()
	s.cancel(nil)
	return err
}
