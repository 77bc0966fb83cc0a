package narinfocache

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzNarinfoRequest checks that a request the transport takes for a
// narinfo names a 32-character hash part and that the cache URL and the
// hash part give back the requested path.
func FuzzNarinfoRequest(f *testing.F) {
	for _, s := range []string{
		"http://h/c/" + strings.Repeat("a", 32) + ".narinfo",
		"https://h:8080/" + strings.Repeat("0", 32) + ".narinfo",
		"http://h/nar/x.nar.xz",
		"http://h//" + strings.Repeat("a", 32) + ".narinfo",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 512 {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		cacheURL, hashPart, ok := narinfoRequest(&http.Request{Method: http.MethodGet, URL: u})
		if !ok {
			return
		}
		if len(hashPart) != 32 || strings.Contains(hashPart, "/") {
			t.Fatalf("%q: hash part %q", raw, hashPart)
		}
		cu, err := url.Parse(cacheURL)
		if err != nil {
			t.Fatalf("%q: cache URL %q does not parse: %v", raw, cacheURL, err)
		}
		if got := strings.TrimSuffix(cu.Path, "/") + "/" + hashPart + ".narinfo"; strings.TrimLeft(got, "/") != strings.TrimLeft(u.Path, "/") && !strings.Contains(u.Path, "//") {
			t.Fatalf("%q: %q + %q gives %q, not %q", raw, cacheURL, hashPart, got, u.Path)
		}
	})
}
