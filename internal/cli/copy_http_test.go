package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/internal/store/local"
)

// putCache is an http binary cache taking uploads: PUT bodies are kept
// in a map and served back with GET.
type putCache struct {
	mu    sync.Mutex
	files map[string][]byte
	puts  []string
}

func (s *putCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.files[name] = data
		s.puts = append(s.puts, name)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		data, ok := s.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// cairn copy --to http://... uploads a signed closure; a fresh store
// then substitutes it from the same server.
func TestCopyToHTTP(t *testing.T) {
	e := newStoreEnv(t)
	dep, top := cacheClosure(t, e)
	sk := e.ok("key", "generate-secret", "--key-name", "up-1")
	e.write("sk", sk, 0o600)
	pk, _, _ := e.run(sk, "key", "convert-secret-to-public")

	// An empty server: the copy uploads nix-cache-info first, as Nix does.
	pc := &putCache{files: map[string][]byte{}}
	srv := httptest.NewServer(pc)
	defer srv.Close()
	e.ok("copy", "--to", srv.URL+"?secret-key="+filepath.Join(e.work, "sk")+"&compression=zstd&write-nar-listing=true", top)
	pc.mu.Lock()
	for _, p := range []string{dep, top} {
		hp := strings.TrimPrefix(p, "/nix/store/")[:32]
		if !strings.Contains(string(pc.files[hp+".narinfo"]), "Compression: zstd\n") || pc.files[hp+".ls"] == nil {
			t.Errorf("%s: narinfo %q, listing %v", p, pc.files[hp+".narinfo"], pc.files[hp+".ls"] != nil)
		}
	}
	if !strings.Contains(string(pc.files["nix-cache-info"]), "StoreDir: /nix/store\n") {
		t.Errorf("nix-cache-info %q", pc.files["nix-cache-info"])
	}
	if n := len(pc.puts); n != 7 {
		t.Errorf("uploads %q, want nix-cache-info, then a NAR, a listing and a narinfo per path", pc.puts)
	}
	pc.mu.Unlock()

	r2 := filepath.Join(e.work, "r2")
	e.ok("copy", "--from", srv.URL, "--to", r2, "--option", "trusted-public-keys", pk, top)
	st, err := local.Open(t.Context(), local.Options{Root: r2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	paths, err := st.QueryValidPaths(t.Context())
	if err != nil || len(paths) != 2 {
		t.Errorf("substituted store holds %d paths (%v), want 2", len(paths), err)
	}

	// A server refusing uploads: a clear error naming the URL.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nix-cache-info" && r.Method == http.MethodGet {
			io.WriteString(w, "StoreDir: /nix/store\n")
			return
		}
		if r.Method == http.MethodPut {
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
			return
		}
		http.NotFound(w, r)
	}))
	defer refuse.Close()
	if _, errs, code := e.run("", "copy", "--to", refuse.URL, dep); code == 0 || !strings.Contains(errs, "upload to "+refuse.URL+"/nar/") ||
		!strings.Contains(errs, "405 Method Not Allowed") {
		t.Errorf("copy to a read-only server: exit %d, stderr %q", code, errs)
	}
}
