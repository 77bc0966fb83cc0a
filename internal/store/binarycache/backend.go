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
// response body is handed out, with exponential backoff.
func (b *httpBackend) get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	u := b.base.ResolveReference(&url.URL{Path: name})
	delay := b.backoff
	for attempt := 0; ; attempt++ {
		body, err := b.try(ctx, u.String())
		if err == nil || !isTransient(err) || attempt >= b.retries {
			return body, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay *= 2
	}
}

func (b *httpBackend) try(ctx context.Context, u string) (io.ReadCloser, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(b.stall, func() { cancel(ErrStalled) })
	fail := func(err error) (io.ReadCloser, error) {
		timer.Stop()
		cause := context.Cause(rctx)
		cancel(nil)
		if errors.Is(cause, ErrStalled) {
			return nil, fmt.Errorf("get %s: no response for %v: %w", u, b.stall, ErrStalled)
		}
		return nil, err
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(&transientError{fmt.Errorf("get %s: %w", u, err)})
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		// From here on the clock runs only while a Read waits, so a
		// slow consumer is not mistaken for a stalled server.
		timer.Stop()
		return &stallBody{body: resp.Body, timer: timer, stall: b.stall, ctx: rctx, cancel: cancel, url: u}, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		resp.Body.Close()
		fail(nil)
		return nil, errNotFound
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		resp.Body.Close()
		return fail(&transientError{fmt.Errorf("get %s: %s", u, resp.Status)})
	default:
		resp.Body.Close()
		return fail(fmt.Errorf("get %s: %s", u, resp.Status))
	}
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
