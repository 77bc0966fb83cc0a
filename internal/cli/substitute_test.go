package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// TestRealiseSubstitutes instantiates a derivation whose builder cannot
// run, puts a signed output for it in a file:// cache, and checks that
// store realise substitutes the output (and so succeeds) only when the
// cache is among the substituters and its key is trusted; a plain store
// path is substituted the same way.
func TestRealiseSubstitutes(t *testing.T) {
	e := newStoreEnv(t)
	drv := strings.TrimSpace(e.ok("instantiate", "-E", `derivation { name = "subst"; system = "x86_64-linux"; builder = "/nonexistent/builder"; }`))
	st, err := local.Open(t.Context(), local.Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	dp, err := st.Dir().Parse(drv)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.ReadDerivation(t.Context(), dp)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	outPath := d.Outputs["out"].Path

	// The output, made elsewhere and pushed to a signed cache.
	other := filepath.Join(e.work, "other")
	dep := addIAPath(t, other, "dep", "a dependency\n", nil)
	depP, _ := storepath.Dir("/nix/store").Parse(dep)
	outP, _ := storepath.Dir("/nix/store").Parse(outPath)
	addAt(t, other, outP, "built elsewhere, uses "+dep+"\n", []storepath.Path{depP})
	sk := e.ok("key", "generate-secret", "--key-name", "sub-1")
	e.write("sk", sk, 0o600)
	pk, _, _ := e.run(sk, "key", "convert-secret-to-public")
	cache := filepath.Join(e.work, "cache")
	cairnIn(t, e.work, "copy", "--store", other, "--to", "file://"+cache+"?compression=zstd&secret-key="+filepath.Join(e.work, "sk"), outPath)

	// No substituters: the build is tried and fails.
	if _, errs, code := e.run("", "store", "realise", "--option", "sandbox", "false", drv); code == 0 {
		t.Fatalf("realise without substituters succeeded; stderr %s", errs)
	}
	// An untrusted cache is passed over.
	if _, errs, code := e.run("", "store", "realise", "--option", "sandbox", "false", "--option", "substituters", "file://"+cache, drv); code == 0 {
		t.Fatalf("realise with an untrusted cache succeeded; stderr %s", errs)
	}
	out, errs, code := e.run("", "store", "realise", "--option", "substituters", "file://"+cache, "--option", "trusted-public-keys", pk, drv)
	if code != 0 {
		t.Fatalf("realise with the cache: exit %d\n%s", code, errs)
	}
	if out != outPath+"\n" || !strings.Contains(errs, "copying path '"+outPath+"' from 'file://"+cache+"'") {
		t.Errorf("realise: stdout %q, stderr %q", out, errs)
	}
	data, err := os.ReadFile(filepath.Join(e.root, outPath, "f"))
	if err != nil || !bytes.Contains(data, []byte("built elsewhere")) {
		t.Errorf("substituted output: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(e.root, dep)); err != nil {
		t.Errorf("reference not substituted: %v", err)
	}

	// With --log-format internal-json, downloads are activities (Nix's
	// type 108) and nothing else is printed.
	e2 := newStoreEnv(t)
	drv2 := strings.TrimSpace(e2.ok("instantiate", "-E", `derivation { name = "subst"; system = "x86_64-linux"; builder = "/nonexistent/builder"; }`))
	_, errs, code = e2.run("", "store", "realise", "--log-format", "internal-json", "--option", "substituters", "file://"+cache, "--option", "trusted-public-keys", pk, drv2)
	if code != 0 || !strings.Contains(errs, `"type":108`) || !strings.Contains(errs, `"text":"copying path '`+outPath+`' from 'file://`+cache+`'"`) {
		t.Errorf("internal-json realise: exit %d, stderr %s", code, errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
		if !strings.HasPrefix(line, "@nix {") {
			t.Errorf("internal-json realise printed %q", line)
		}
	}

	// A plain path, through NIX_CONFIG.
	plain := addIAPath(t, other, "plain", "plain path\n", nil)
	cairnIn(t, e.work, "copy", "--store", other, "--to", "file://"+cache+"?secret-key="+filepath.Join(e.work, "sk"), plain)
	if _, _, code := e.run("", "store", "realise", plain); code == 0 {
		t.Errorf("plain path realised without substituters")
	}
	var so, se bytes.Buffer
	env := []string{"HOME=" + e.work, "NIX_REMOTE=dummy://", "NIX_CONFIG=substituters = file://" + cache + "\ntrusted-public-keys = " + pk}
	if code := mainIn(t.Context(), e.work, []string{"cairn", "store", "realise", "--store", e.root, plain}, strings.NewReader(""), &so, &se, env); code != 0 || so.String() != plain+"\n" {
		t.Errorf("realise plain path: exit %d, stdout %q, stderr %s", code, so.String(), se.String())
	}
}

// TestSubstituteSettingsKnown checks that the substitution settings are
// known settings (no "unknown setting" warning) and are read from
// NIX_CONFIG and --option in that order.
func TestSubstituteSettingsKnown(t *testing.T) {
	e := newStoreEnv(t)
	_, errs, code := e.run("", "eval", "--expr", "1", "--option", "trusted-public-keys", "k-1:x", "--option", "require-sigs", "false",
		"--option", "narinfo-cache-negative-ttl", "0", "--no-require-sigs", "--option", "extra-trusted-public-keys", "k-2:y",
		"--option", "max-substitution-jobs", "3", "--option", "http-connections", "5")
	if code != 0 || strings.Contains(errs, "unknown setting") {
		t.Errorf("eval with substitution settings: exit %d, stderr %q", code, errs)
	}
	f := &Factory{Environ: []string{"NIX_CONFIG=substituters = file:///a\nrequire-sigs = false\ntrusted-public-keys = a-1:x"}}
	c := &StoreFlags{Settings: []Setting{{"extra-substituters", "http://b"}, {"narinfo-cache-positive-ttl", "60"}, {"extra-trusted-public-keys", "b-1:y"}}}
	cs, err := resolveCacheSettings(f, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cs.substituters, " ") + " | " + strings.Join(cs.trustedKeys, " ") + " | " + cs.positiveTTL.String(); got != "file:///a http://b | a-1:x b-1:y | 1m0s" || cs.requireSigs {
		t.Errorf("settings: %s, require-sigs %v", got, cs.requireSigs)
	}
	if _, err := resolveCacheSettings(f, &StoreFlags{Settings: []Setting{{"require-sigs", "maybe"}}}); err == nil {
		t.Error("require-sigs = maybe accepted")
	}
}

// max-substitution-jobs and http-connections reach binarycache's Jobs
// and Parallel; 0 keeps binarycache's defaults.
func TestSubstituteLimits(t *testing.T) {
	f := &Factory{Environ: []string{"NIX_CONFIG=max-substitution-jobs = 3\nhttp-connections = 0"}}
	cs, err := resolveCacheSettings(f, &StoreFlags{Settings: []Setting{{"http-connections", "7"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cs.jobs != 3 || cs.connections != 7 {
		t.Errorf("jobs %d, connections %d; want 3, 7", cs.jobs, cs.connections)
	}
	for _, bad := range []string{"-1", "many", "99999999"} {
		if _, err := resolveCacheSettings(f, &StoreFlags{Settings: []Setting{{"max-substitution-jobs", bad}}}); err == nil || !strings.Contains(err.Error(), "non-negative integer") {
			t.Errorf("max-substitution-jobs = %s: %v", bad, err)
		}
	}
}
