package build

import (
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

func TestSandboxEnvironmentAndIsolation(t *testing.T) {
	needSandbox(t)
	var lines []string
	e := newEnv(t, Config{Cores: 3, LogLine: func(drv storepath.Path, line string) { lines = append(lines, drv.Name()+": "+line) }})
	// Something listening on the host's loopback must be unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhost"))
			c.Close()
		}
	}()
	p := e.drv(drvSpec{name: "probe", env: map[string]string{"passAsFile": "big", "big": "contents of big"}, script: `
mkdir $out
env | sort > $out/env
id > $out/id
hostname > $out/hostname
pwd > $out/pwd
ls / | tr '\n' ' ' > $out/root
ls /etc | tr '\n' ' ' > $out/etc
cat /etc/passwd /etc/group /etc/hosts > $out/etcfiles
cat $bigPath > $out/big
ls -a /build | tr '\n' ' ' > $out/build
wget -q -T 2 -O- http://` + ln.Addr().String() + `/ > $out/net 2>&1 || echo unreachable > $out/net
touch /build/f; chmod 4755 /build/f 2>$out/suid || true
test -e /bin/sh && echo yes > $out/binsh || echo no > $out/binsh
echo building probe
`})
	res, err := e.build(p, Options{})
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, e.logs)
	}
	if res.Status != Built {
		t.Errorf("status %v", res.Status)
	}
	out := e.st.Dir().Print(res.Outputs["out"].Path)
	bb := e.st.Dir().Print(e.bb)
	bigPath := "/build/.attr-" + nixhash.Sum(nixhash.SHA256, []byte("big")).Encode(nixhash.Nix32, false)
	wantEnv := []string{
		"HOME=/homeless-shelter", "NIX_BUILD_CORES=3", "NIX_BUILD_TOP=/build", "NIX_LOG_FD=2",
		"NIX_STORE=/nix/store", "PATH=" + bb + "/bin", "PWD=/build", "TEMP=/build", "TEMPDIR=/build",
		"TERM=xterm-256color", "TMP=/build", "TMPDIR=/build", "bigPath=" + bigPath, "builder=" + e.sh,
		"name=probe", "out=" + out, "passAsFile=big", "system=x86_64-linux",
	}
	var gotEnv []string
	for _, l := range strings.Split(strings.TrimSpace(e.outFile(res, "out", "env")), "\n") {
		if !strings.HasPrefix(l, "SHLVL=") && !strings.HasPrefix(l, "_=") {
			gotEnv = append(gotEnv, l)
		}
	}
	if !slices.Equal(gotEnv, wantEnv) {
		t.Errorf("env:\n got %q\nwant %q", gotEnv, wantEnv)
	}
	for _, c := range []struct{ file, want string }{
		{"id", "uid=1000(nixbld) gid=100(nixbld)\n"},
		{"hostname", "localhost\n"},
		{"pwd", "/build\n"},
		{"root", "build dev etc nix proc tmp "},
		{"etc", "group hosts passwd "},
		{"etcfiles", etcPasswd + etcGroup + etcHosts},
		{"big", "contents of big"},
		{"build", ". .. " + filepath.Base(bigPath) + " "},
		{"net", "unreachable\n"},
		{"suid", "chmod: /build/f: Operation not permitted\n"},
		{"binsh", "no\n"},
	} {
		got := e.outFile(res, "out", c.file)
		if c.file == "id" && os.Geteuid() != 0 {
			// Without root the sandbox's user namespace cannot drop the
			// caller's supplementary groups (setgroups is denied there,
			// as in Nix): one that is the mapped group shows as 100.
			if i := strings.Index(got, " groups="); i >= 0 {
				got = got[:i] + "\n"
			}
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	// Registered, canonical, with references and deriver.
	info := res.Outputs["out"]
	if !info.Ultimate || info.Deriver != p {
		t.Errorf("info: ultimate %v deriver %v", info.Ultimate, info.Deriver)
	}
	if want := []storepath.Path{e.bb, info.Path}; !slices.Equal(info.References, store.SortPaths(want)) {
		t.Errorf("references %v, want %v", info.References, want)
	}
	for name, mode := range map[string]os.FileMode{"env": 0o444, "": os.ModeDir | 0o555} {
		fi, err := os.Lstat(filepath.Join(e.st.RealPath(info.Path), name))
		if err != nil || fi.Mode() != mode || fi.ModTime().Unix() != 1 {
			t.Errorf("output %q not canonical: %v %v", name, fi.Mode(), fi.ModTime())
		}
	}
	if v, err := e.st.Verify(context.Background(), verifyAll()); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
	// The log is stored where nix log looks, and the chroot is gone.
	logData, err := readBzip2File(res.LogFile)
	if err != nil || string(logData) != "building probe\n" {
		t.Errorf("log file %s: %q %v", res.LogFile, logData, err)
	}
	if want := filepath.Join(e.root, "nix/var/log/nix/drvs", p.Base()[:2], p.Base()[2:]+".bz2"); res.LogFile != want {
		t.Errorf("log file %s, want %s", res.LogFile, want)
	}
	// The chroot is pooled for the next build (with only its empty
	// /tmp and the store directory); Close removes it.
	chroot := filepath.Join(e.st.RealStoreDir(), p.Base()+".chroot")
	if ents, err := os.ReadDir(chroot + "/tmp"); err != nil || len(ents) != 0 {
		t.Errorf("pooled chroot's tmp: %v %v", ents, err)
	}
	e.b.Close()
	if _, err := os.Stat(chroot); !os.IsNotExist(err) {
		t.Errorf("chroot left behind: %v", err)
	}
	if want := []string{"probe.drv: building probe"}; !slices.Equal(lines, want) {
		t.Errorf("LogLine got %q, want %q", lines, want)
	}
	// Building again does nothing.
	res2, err := e.build(p, Options{})
	if err != nil || res2.Status != AlreadyValid {
		t.Errorf("rebuild: %v %v", res2, err)
	}
}

func TestFailureKeepsNothing(t *testing.T) {
	needSandbox(t)
	keep := t.TempDir()
	e := newEnv(t, Config{TmpDir: keep})
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("echo line %d", i))
	}
	p := e.drv(drvSpec{name: "fails", script: "mkdir $out; echo partial > $out/x\n" + strings.Join(lines, "\n") + "\nexit 3"})
	_, err := e.build(p, Options{})
	var be *Error
	if !errors.As(err, &be) || be.Kind != Failed {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "builder for '"+e.st.Dir().Print(p)+"' failed with exit code 3;\nlast 25 log lines:\n> line 6\n") ||
		!strings.Contains(msg, "> line 30\nFor full logs") || strings.Contains(msg, "> line 5\n") {
		t.Errorf("message:\n%s", msg)
	}
	req := e.request(p)
	if ok, _ := e.st.IsValid(context.Background(), req.Outputs["out"].Path); ok {
		t.Error("failed output registered")
	}
	if _, err := os.Lstat(e.st.RealPath(req.Outputs["out"].Path)); !os.IsNotExist(err) {
		t.Errorf("failed output left in the store: %v", err)
	}
	// Only the shared sandbox skeleton, until Close.
	if ents, _ := os.ReadDir(keep); len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "cairn-sandbox-") {
		t.Errorf("build dir kept without keep-failed: %v", ents)
	}
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(keep); len(ents) != 0 {
		t.Errorf("left after Close: %v", ents)
	}

	// keep-failed keeps the build directory.
	e.b.cfg.KeepFailed = true
	_, err = e.build(p, Options{})
	if err == nil {
		t.Fatal("second build succeeded")
	}
	e.b.Close()
	ents, _ := os.ReadDir(keep)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "nix-build-fails.drv-") {
		t.Fatalf("kept: %v", ents)
	}
	if !strings.HasSuffix(err.Error(), "\nnote: keeping build directory '"+filepath.Join(keep, ents[0].Name())+"'") {
		t.Errorf("message does not say where the build directory is:\n%s", err)
	}
	// The partial output is kept beside the build files.
	if data, err := os.ReadFile(filepath.Join(keep, ents[0].Name(), req.Outputs["out"].Path.Base(), "x")); err != nil || string(data) != "partial\n" {
		t.Errorf("kept output: %q %v", data, err)
	}
}

func TestMissingOutputAndTimeouts(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	_, err := e.build(e.drv(drvSpec{name: "noout", script: "true"}), Options{})
	if err == nil || !strings.Contains(err.Error(), "failed to produce output path for output 'out'") {
		t.Errorf("missing output: %v", err)
	}
	e.b.cfg.MaxSilentTime = 300 * time.Millisecond
	var be *Error
	_, err = e.build(e.drv(drvSpec{name: "silent", script: "sleep 10"}), Options{})
	if !errors.As(err, &be) || be.Kind != TimedOut || !strings.Contains(err.Error(), "of silence") {
		t.Errorf("silent: %v", err)
	}
	e.b.cfg.MaxSilentTime = 0
	e.b.cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = e.build(e.drv(drvSpec{name: "slow", script: "while true; do echo tick; sleep 0.05; done"}), Options{})
	if !errors.As(err, &be) || be.Kind != TimedOut || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
}

func TestReferencesAndChecks(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	dep := e.drv(drvSpec{name: "dep", script: "mkdir $out; echo dep > $out/f"})
	if _, err := e.build(dep, Options{}); err != nil {
		t.Fatal(err)
	}
	depOut := e.request(dep).Outputs["out"].Path
	depPrinted := e.st.Dir().Print(depOut)
	// Two outputs: out refers to dev and dep; dev refers to nothing.
	multi := e.drv(drvSpec{name: "multi", outputs: []string{"out", "dev"}, deps: []storepath.Path{dep}, script: `
mkdir $out $dev; echo $dev > $out/ref; ln -s ` + depPrinted + `/f $out/link; echo hi > $dev/x`})
	res, err := e.build(multi, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	if got, want := res.Outputs["out"].References, store.SortPaths([]storepath.Path{depOut, res.Outputs["dev"].Path}); !slices.Equal(got, want) {
		t.Errorf("out refs %v, want %v", got, want)
	}
	if got := res.Outputs["dev"].References; len(got) != 0 {
		t.Errorf("dev refs %v", got)
	}

	for _, c := range []struct {
		name string
		env  map[string]string
		bad  bool
	}{
		{"allowed-ok", map[string]string{"allowedReferences": depPrinted}, false},
		{"allowed-bad", map[string]string{"allowedReferences": ""}, true},
		{"disallowed-bad", map[string]string{"disallowedReferences": depPrinted}, true},
		{"disallowed-ok", map[string]string{"disallowedReferences": "out"}, false},
		{"requisites-bad", map[string]string{"disallowedRequisites": depPrinted}, true},
		{"allowedreq-ok", map[string]string{"allowedRequisites": depPrinted}, false},
		{"bad-spec", map[string]string{"allowedReferences": "nonsense"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.drv(drvSpec{name: c.name, env: c.env, deps: []storepath.Path{dep}, script: "mkdir $out; echo " + depPrinted + " > $out/r"})
			_, err := e.build(p, Options{})
			if (err != nil) != c.bad {
				t.Fatalf("err = %v, want failure %v", err, c.bad)
			}
			if c.bad {
				if ok, _ := e.st.IsValid(context.Background(), e.request(p).Outputs["out"].Path); ok {
					t.Error("rejected output registered")
				}
			}
		})
	}
	// Structured attributes: outputChecks, .attrs.json and .attrs.sh.
	js := `{"builder":"` + e.sh + `","name":"structured","system":"x86_64-linux","n":42,"f":1.5,"b":true,"l":["a","b c"],"m":{"k":"v"},"outputChecks":{"out":{"maxSize":100000}}}`
	p := e.drv(drvSpec{name: "structured", env: map[string]string{"__json": js}, deps: []storepath.Path{dep}, script: `
export PATH=` + e.st.Dir().Print(e.bb) + `/bin
out=$(sed -n "s/^declare -A outputs=(\['out'\]='\([^']*\)' )$/\1/p" $NIX_ATTRS_SH_FILE)
mkdir $out; cat $NIX_ATTRS_JSON_FILE > $out/json; cat $NIX_ATTRS_SH_FILE > $out/sh`})
	res, err = e.build(p, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	out := e.st.Dir().Print(res.Outputs["out"].Path)
	wantJSON := `{"b":true,"builder":"` + e.sh + `","f":1.5,"l":["a","b c"],"m":{"k":"v"},"n":42,"name":"structured","outputChecks":{"out":{"maxSize":100000}},"outputs":{"out":"` + out + `"},"system":"x86_64-linux"}`
	if got := e.outFile(res, "out", "json"); got != wantJSON {
		t.Errorf("attrs.json\n got %s\nwant %s", got, wantJSON)
	}
	wantSh := "declare b=1\ndeclare builder='" + e.sh + "'\ndeclare -a l=('a' 'b c' )\ndeclare -A m=(['k']='v' )\ndeclare n=42\ndeclare name='structured'\ndeclare -A outputs=(['out']='" + out + "' )\ndeclare system='x86_64-linux'\n"
	if got := e.outFile(res, "out", "sh"); got != wantSh {
		t.Errorf("attrs.sh\n got %q\nwant %q", got, wantSh)
	}
	js = `{"builder":"` + e.sh + `","name":"structured-bad","system":"x86_64-linux","outputChecks":{"out":{"disallowedReferences":["` + depPrinted + `"]}}}`
	p = e.drv(drvSpec{name: "structured-bad", env: map[string]string{"__json": js}, deps: []storepath.Path{dep}, script: `
out=$(sed -n "s/^declare -A outputs=(\['out'\]='\([^']*\)' )$/\1/p" $NIX_ATTRS_SH_FILE)
mkdir $out; echo ` + depPrinted + ` > $out/r`})
	if _, err := e.build(p, Options{}); err == nil || !strings.Contains(err.Error(), "is not allowed to refer to the following paths:\n  "+depPrinted) {
		t.Errorf("structured disallowedReferences: %v", err)
	}
}

func fixedSpec(name, script string, m storepath.Method, h nixhash.Hash) drvSpec {
	algo := h.Algo.String()
	if m == storepath.Recursive {
		algo = "r:" + algo
	}
	return drvSpec{name: name, script: script, fixed: &derivation.Output{HashAlgo: algo, Hash: h.Hex()},
		env: map[string]string{"outputHash": h.Hex(), "outputHashAlgo": h.Algo.String()}}
}

func TestFixedOutput(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	good := nixhash.Sum(nixhash.SHA256, []byte("hello\n"))
	p := e.drv(fixedSpec("fixed", "echo hello > $out; cat /etc/nsswitch.conf >&2", storepath.Flat, good))
	res, err := e.build(p, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	info := res.Outputs["out"]
	if info.CA.String() != "fixed:sha256:"+good.Encode(nixhash.Nix32, false) {
		t.Errorf("CA %s", info.CA)
	}
	if !strings.Contains(e.logs.String(), "hosts: files dns") {
		t.Errorf("FOD has no nsswitch.conf: %s", e.logs)
	}

	wrong := nixhash.Sum(nixhash.SHA256, []byte("something else"))
	p = e.drv(fixedSpec("fixed-bad", "echo hello > $out", storepath.Flat, wrong))
	_, err = e.build(p, Options{})
	var be *Error
	want := fmt.Sprintf("hash mismatch in fixed-output derivation '%s':\n  specified: %s\n     got:    %s",
		e.st.Dir().Print(p), wrong.Encode(nixhash.SRI, true), good.Encode(nixhash.SRI, true))
	if !errors.As(err, &be) || be.Kind != HashMismatch || err.Error() != want {
		t.Errorf("mismatch:\n got %v\nwant %s", err, want)
	}
	if ExitStatus(be) != 102 {
		t.Errorf("exit status %d", ExitStatus(be))
	}
	if ok, _ := e.st.IsValid(context.Background(), e.request(p).Outputs["out"].Path); ok {
		t.Error("mismatching output registered")
	}
}

func TestCheckMode(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	det := e.drv(drvSpec{name: "det", script: "echo same > $out"})
	if _, err := e.build(det, Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := e.build(det, Options{Check: true})
	if err != nil || res.Status != Checked {
		t.Fatalf("check of deterministic build: %v", err)
	}
	nondet := e.drv(drvSpec{name: "nondet", script: "cat /proc/sys/kernel/random/uuid > $out"})
	if _, err := e.build(nondet, Options{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.build(nondet, Options{Check: true})
	var be *Error
	if !errors.As(err, &be) || be.Kind != NotDeterministic || !strings.Contains(err.Error(), "may not be deterministic") {
		t.Fatalf("check of non-deterministic build: %v", err)
	}
	if ExitStatus(be) != 104 {
		t.Errorf("exit status %d", ExitStatus(be))
	}
	// The valid output is untouched.
	if v, err := e.st.Verify(context.Background(), verifyAll()); err != nil || !v.OK() {
		t.Errorf("verify after check: %+v %v", v, err)
	}
}

func TestInputsAndSetupErrors(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{MaxLogSize: 4096})
	txt, err := e.st.AddText(context.Background(), "data.txt", []byte("file input\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A symlink input stays a symlink.
	linkDir := t.TempDir()
	os.Symlink("/nix/store/dangling-target", linkDir+"/l")
	link, err := e.st.AddPath(context.Background(), linkDir+"/l", local.AddOptions{Name: "link", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	lp := e.drv(drvSpec{name: "reads-link", srcs: []storepath.Path{link.Path}, script: "readlink " + e.st.Dir().Print(link.Path) + " > $out"})
	res, err := e.build(lp, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	if got := e.outFile(res, "out", ""); got != "/nix/store/dangling-target\n" {
		t.Errorf("symlink input reads %q", got)
	}
	// A regular-file input is visible (and read-only); the host store
	// beside it is not.
	p := e.drv(drvSpec{name: "reads-file", srcs: []storepath.Path{txt.Path}, script: `
cat ` + e.st.Dir().Print(txt.Path) + ` > $out
ls /nix/store | grep -c . >> $out
echo x >> ` + e.st.Dir().Print(txt.Path) + ` 2>/dev/null || echo read-only >> $out`})
	res, err = e.build(p, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	// Visible in /nix/store: busybox, data.txt and the output.
	if got := e.outFile(res, "out", ""); got != "file input\n3\nread-only\n" {
		t.Errorf("got %q", got)
	}
	_, err = e.build(e.drv(drvSpec{name: "chatty", script: "while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done"}), Options{})
	if err == nil || !strings.Contains(err.Error(), "exceed the limit of 4096") {
		t.Errorf("max-log-size: %v", err)
	}
	req := e.request(e.drv(drvSpec{name: "nobuilder", script: "true"}))
	req.Builder = "/nix/store/00000000000000000000000000000000-missing/bin/sh"
	_, err = e.b.Build(context.Background(), req, Options{})
	if err == nil || !strings.Contains(err.Error(), "while setting up the build environment") || !strings.Contains(err.Error(), "executing '"+req.Builder+"'") {
		t.Errorf("missing builder: %v", err)
	}
}

// readBzip2File reads a bzip2-compressed file (a stored build log).
func readBzip2File(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(bzip2.NewReader(f))
}
