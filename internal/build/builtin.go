package build

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/store"
)

// runBuiltin runs a builtin builder in this process. Only
// builtin:fetchurl exists (Nix 2.8's builtin:buildenv is internal to
// nix-env). The output is written straight to its place in the store
// (we hold its lock).
func (b *Builder) runBuiltin(ctx context.Context, req *Request, r *buildRun, valid map[string]*store.PathInfo, check bool) error {
	drv := b.print(req.DrvPath)
	if req.Builder != "builtin:fetchurl" {
		return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("unsupported builtin builder '%s'", req.Builder)}
	}
	if check || len(valid) > 0 {
		return fmt.Errorf("build %s: cannot check builtin:fetchurl", drv)
	}
	out, ok := req.Outputs["out"]
	if !ok || len(req.Outputs) != 1 {
		return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("builtin:fetchurl derivation '%s' must have exactly the output 'out'", drv)}
	}
	r.actual["out"] = filepath.Join(b.store.RealStoreDir(), out.Path.Base())
	dst := r.actual["out"]
	if _, err := os.Lstat(dst); err == nil {
		os.RemoveAll(dst)
	}
	logw, err := b.openLog(req, r)
	if err != nil {
		return err
	}
	sink := b.newLogSink(req, logw)
	defer sink.close()
	rewrite := rewriter(req, b.store.Dir())
	env := map[string]string{}
	for k, v := range req.Env {
		env[k] = rewrite(v)
	}
	url := env["url"]
	if url == "" {
		r.failed = true
		return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("attribute 'url' missing in builtin:fetchurl derivation '%s'", drv)}
	}
	var urls []string
	if out.Fixed != nil && out.Fixed.Method == 0 && env["unpack"] != "1" {
		for _, m := range b.cfg.HashedMirrors {
			urls = append(urls, strings.TrimSuffix(m, "/")+"/"+out.Fixed.Hash.Algo.String()+"/"+out.Fixed.Hash.Encode(nixhash.Base16, false))
		}
	}
	urls = append(urls, url)
	var lastErr error
	for _, u := range urls {
		fmt.Fprintf(sinkWriter{sink}, "downloading '%s'...\n", u)
		if lastErr = b.fetch(ctx, u, dst, env); lastErr == nil {
			return nil
		}
		os.RemoveAll(dst)
		fmt.Fprintf(sinkWriter{sink}, "%v\n", lastErr)
	}
	r.failed = true
	return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("builder for '%s' failed: %v", drv, lastErr), Err: lastErr}
}

type sinkWriter struct{ s *logSink }

func (w sinkWriter) Write(p []byte) (int, error) { w.s.Write(p); return len(p), nil }

// fetch downloads url to dst: a file (executable if asked), or, with
// unpack = "1", the file system object of a NAR.
func (b *Builder) fetch(ctx context.Context, url, dst string, env map[string]string) error {
	client := b.cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("download '%s': %w", url, err)
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("download '%s': %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unable to download '%s': HTTP error %d", url, resp.StatusCode)
	}
	if env["unpack"] == "1" {
		if strings.HasSuffix(url, ".xz") {
			return fmt.Errorf("download '%s': unpacking xz-compressed NARs is not supported", url)
		}
		return nar.Restore(resp.Body, dst)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("download '%s': %w", url, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if env["executable"] == "1" {
		return os.Chmod(dst, 0o755)
	}
	return nil
}
