package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"cairn/internal/build"
	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/storepath"
)

func testReq(t *testing.T, name string) *build.Request {
	t.Helper()
	p, err := storepath.DefaultDir.Parse("/nix/store/00000000000000000000000000000000-" + name + ".drv")
	if err != nil {
		t.Fatal(err)
	}
	return &build.Request{DrvPath: p, Name: name}
}

// clock is a fake time source advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// run feeds the same events to a Logger of each format.
func run(t *testing.T, format Format) string {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	l := New(&buf, format, Options{Dir: storepath.DefaultDir, Now: c.now, Refresh: -1})
	a, b := testReq(t, "a"), testReq(t, "b")
	l.BuildStarted(a, build.Options{})
	c.t = c.t.Add(1500 * time.Millisecond)
	l.Line(a.DrvPath, `@nix {"action":"setPhase","phase":"buildPhase"}`)
	l.Line(a.DrvPath, "compiling")
	l.BuildStarted(b, build.Options{Check: true})
	c.t = c.t.Add(time.Second)
	l.BuildFinished(a, &build.Result{Status: build.Built}, nil)
	l.BuildFinished(b, nil, errors.New("boom"))
	l.Close()
	return buf.String()
}

func TestRaw(t *testing.T) {
	want := "building '/nix/store/00000000000000000000000000000000-a.drv'...\ncompiling\n" +
		"checking outputs of '/nix/store/00000000000000000000000000000000-b.drv'...\n"
	if got := run(t, Raw); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestBar(t *testing.T) {
	got := run(t, Bar)
	// Each frame erases the previous status lines ("\x1b[nF\x1b[J").
	frames := []string{
		"building a 0s\x1b[K\n",
		"\x1b[1F\x1b[Jbuilding a (buildPhase) 1.5s\x1b[K\n",
		"\x1b[1F\x1b[Jbuilding a (buildPhase) 1.5s: compiling\x1b[K\n",
		"\x1b[1F\x1b[Jbuilding a (buildPhase) 1.5s: compiling\x1b[K\nbuilding b 0s\x1b[K\n",
		"\x1b[2F\x1b[Jbuilt a in 2.5s\nbuilding b 1s\x1b[K\n",
		"\x1b[1F\x1b[Jfailed b in 1s\n",
	}
	if want := strings.Join(frames, ""); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestBarWithLogs(t *testing.T) {
	got := run(t, BarWithLogs)
	if !strings.Contains(got, "\x1b[1F\x1b[Ja> compiling\nbuilding a (buildPhase) 1.5s: compiling\x1b[K\n") {
		t.Errorf("log line not printed above the status:\n%q", got)
	}
}

func TestInternalJSON(t *testing.T) {
	want := `@nix {"action":"start","id":1,"level":3,"text":"","type":104}
@nix {"action":"start","fields":["/nix/store/00000000000000000000000000000000-a.drv","",1,1],"id":2,"level":3,"parent":1,"text":"building '/nix/store/00000000000000000000000000000000-a.drv'","type":105}
@nix {"action":"result","fields":[0,1,1,0],"id":1,"type":105}
@nix {"action":"result","fields":["buildPhase"],"id":2,"type":104}
@nix {"action":"result","fields":["compiling"],"id":2,"type":101}
@nix {"action":"start","fields":["/nix/store/00000000000000000000000000000000-b.drv","",1,1],"id":3,"level":3,"parent":1,"text":"checking outputs of '/nix/store/00000000000000000000000000000000-b.drv'","type":105}
@nix {"action":"result","fields":[0,2,2,0],"id":1,"type":105}
@nix {"action":"stop","id":2}
@nix {"action":"result","fields":[1,2,1,0],"id":1,"type":105}
@nix {"action":"stop","id":3}
@nix {"action":"result","fields":[1,2,0,1],"id":1,"type":105}
@nix {"action":"stop","id":1}
`
	if got := run(t, InternalJSON); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var buf bytes.Buffer
	l := New(&buf, InternalJSON, Options{})
	l.Error("error: x\n")
	if !strings.Contains(buf.String(), `@nix {"action":"msg","level":0,"msg":"error: x\n"}`) {
		t.Errorf("msg: %s", buf.String())
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"raw": Raw, "bar": Bar, "bar-with-logs": BarWithLogs, "internal-json": InternalJSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("json accepted")
	}
}

// substitution feeds a download's events to a Logger of format.
func substitution(t *testing.T, format Format) string {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	l := New(&buf, format, Options{Dir: storepath.DefaultDir, Now: c.now, Refresh: -1})
	p, err := storepath.DefaultDir.Parse("/nix/store/00000000000000000000000000000000-hello")
	if err != nil {
		t.Fatal(err)
	}
	ni := &narinfo.NarInfo{StoreDir: storepath.DefaultDir, StorePath: p, FileSize: 3 << 20}
	l.SubstitutePlanned(1, ni.FileSize, 0)
	l.SubstituteStarted("http://cache", ni)
	c.t = c.t.Add(time.Second)
	l.SubstituteProgress(ni, 1<<20)
	l.SubstituteProgress(ni, 3<<20)
	l.SubstituteFinished(ni, nil)
	l.Close()
	return buf.String()
}

func TestSubstitutionEvents(t *testing.T) {
	if got, want := substitution(t, Raw), "copying path '/nix/store/00000000000000000000000000000000-hello' from 'http://cache'...\n"; got != want {
		t.Errorf("raw: got %q, want %q", got, want)
	}
	bar := substitution(t, Bar)
	for _, s := range []string{"copying hello 0.0 MiB of 3.0 MiB 0s\x1b[K\n", "copying hello 1.0 MiB of 3.0 MiB, 1.0 MiB/s, ETA 2s 1s\x1b[K\n",
		"copying hello 3.0 MiB of 3.0 MiB, 3.0 MiB/s 1s\x1b[K\n", "copied hello (3.0 MiB) in 1s\n"} {
		if !strings.Contains(bar, s) {
			t.Errorf("bar: no %q in\n%q", s, bar)
		}
	}
	want := `@nix {"action":"start","id":1,"level":3,"text":"","type":104}
@nix {"action":"start","fields":["/nix/store/00000000000000000000000000000000-hello","http://cache"],"id":2,"level":3,"parent":1,"text":"copying path '/nix/store/00000000000000000000000000000000-hello' from 'http://cache'","type":108}
@nix {"action":"result","fields":[1048576,3145728,0,0],"id":2,"type":105}
@nix {"action":"result","fields":[3145728,3145728,0,0],"id":2,"type":105}
@nix {"action":"stop","id":2}
@nix {"action":"stop","id":1}
`
	if got := substitution(t, InternalJSON); got != want {
		t.Errorf("internal-json: got\n%s\nwant\n%s", got, want)
	}
}

func TestCopyingLine(t *testing.T) {
	const M = 1 << 20
	for _, c := range []struct {
		got, total uint64
		elapsed    time.Duration
		want       string
	}{
		{0, 30 * M, 0, "copying hello 0.0 MiB of 30.0 MiB"},
		{0, 30 * M, 2 * time.Second, "copying hello 0.0 MiB of 30.0 MiB"},
		{M, 30 * M, 0, "copying hello 1.0 MiB of 30.0 MiB"},
		{12 * M, 30 * M, 3 * time.Second, "copying hello 12.0 MiB of 30.0 MiB, 4.0 MiB/s, ETA 5s"},
		{12 * M, 30 * M, 2900 * time.Millisecond, "copying hello 12.0 MiB of 30.0 MiB, 4.1 MiB/s, ETA 4s"},
		{12 * M, 0, 3 * time.Second, "copying hello 12.0 MiB, 4.0 MiB/s"}, // total unknown: no ETA
		{M / 2, 2 * M, 2 * time.Second, "copying hello 0.5 MiB of 2.0 MiB, 256 KiB/s, ETA 6s"},
		{30 * M, 30 * M, 10 * time.Second, "copying hello 30.0 MiB of 30.0 MiB, 3.0 MiB/s"},
		{1000 * M, 1200 * M, 1000 * time.Second, "copying hello 1000.0 MiB of 1200.0 MiB, 1.0 MiB/s, ETA 3m20s"},
		{1, 1 << 50, time.Hour, "copying hello 0.0 MiB of 1073741824.0 MiB, 0 KiB/s"}, // ETA beyond 100h
	} {
		a := &activity{name: "hello", copying: true, got: c.got, total: c.total}
		if got := copyingLine(a, c.elapsed); got != c.want {
			t.Errorf("copyingLine(%d of %d in %s) = %q, want %q", c.got, c.total, c.elapsed, got, c.want)
		}
	}
}
