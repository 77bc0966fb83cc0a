// Package fetch downloads files and unpacks archives for Nix's fetchers
// (builtins.fetchurl, fetchTarball, fetchTree): HTTP(S) and file:// URLs,
// tar (plain, gzip, xz, bzip2) and zip archives, and Nix's rules for
// default names and the single top-level directory of a tarball. Adding
// results to a store and checking hashes is the caller's (glue's) job.
package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Download writes the contents of rawURL to w. http, https and file
// URLs are supported; a non-2xx HTTP status is an error.
func Download(ctx context.Context, client *http.Client, rawURL string, w io.Writer) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("unable to download '%s': %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("unable to download '%s': the 'file' scheme needs an absolute path", rawURL)
		}
		f, err := os.Open(u.Path)
		if err != nil {
			return fmt.Errorf("unable to download '%s': %w", rawURL, err)
		}
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("unable to download '%s': %w", rawURL, err)
		}
		return nil
	case "http", "https":
	default:
		return fmt.Errorf("unable to download '%s': unsupported URL scheme '%s'", rawURL, u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("unable to download '%s': %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unable to download '%s': %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("unable to download '%s': HTTP error %d", rawURL, resp.StatusCode)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("unable to download '%s': %w", rawURL, err)
	}
	return nil
}

// BaseName is Nix's baseNameOf for a URL: the text after the last '/',
// ignoring one trailing '/'.
func BaseName(u string) string {
	u = strings.TrimSuffix(u, "/")
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[i+1:]
	}
	return u
}

// maxNameLen is the longest store path name Nix accepts.
const maxNameLen = 211

// CheckName checks a store path name with current Nix's messages
// ("name '~x' contains illegal character '~'").
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name must not be empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("name '%s' must be no longer than %d characters", name, maxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("name '%s' is not valid", name)
	case strings.HasPrefix(name, ".-"):
		return fmt.Errorf("name '%s' is not valid: first dash-separated component must not be '.'", name)
	case strings.HasPrefix(name, "..-"):
		return fmt.Errorf("name '%s' is not valid: first dash-separated component must not be '..'", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("+-._?=", c) >= 0) {
			return fmt.Errorf("name '%s' contains illegal character '%c'", name, c)
		}
	}
	return nil
}
