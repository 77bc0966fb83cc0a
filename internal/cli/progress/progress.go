// Package progress shows what a build is doing, in one of Nix's log
// formats, on an io.Writer (the command's standard error):
//
//   - Raw: plain lines, as nix-build prints them when its output is not
//     a terminal: "building '/nix/store/…drv'..." and every line the
//     builders print.
//   - Bar: a live view on a terminal: one line per running build with
//     its name, phase, elapsed time and last log line, redrawn in place
//     (with logs, Nix's bar-with-logs, the builders' lines scroll above).
//   - InternalJSON: Nix's --log-format internal-json, one "@nix {json}"
//     line per event: activities start and stop, build log lines and
//     phases are results of their build activity, messages are "msg".
//
// A Logger implements build.Observer for the start and end of builds,
// binarycache.Observer for downloads from substituters, and takes log
// lines through Line (build.Config.LogLine). All methods may be
// called from several goroutines.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"cairn/internal/build"
	"cairn/internal/compat/storepath"
)

// Format selects how a Logger writes.
type Format int

// Log formats (Nix's --log-format values raw, bar, bar-with-logs and
// internal-json).
const (
	Raw Format = iota
	Bar
	BarWithLogs
	InternalJSON
)

// ParseFormat parses a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "raw":
		return Raw, nil
	case "bar":
		return Bar, nil
	case "bar-with-logs":
		return BarWithLogs, nil
	case "internal-json":
		return InternalJSON, nil
	}
	return 0, fmt.Errorf("option 'log-format' has an invalid value '%s' (want raw, bar, bar-with-logs or internal-json)", s)
}

// Nix's activity and result types (src/libutil/logging.hh).
const (
	actBuilds       = 104
	actBuild        = 105
	resBuildLogLine = 101
	resSetPhase     = 104
	resProgress     = 105
	lvlError        = 0
	lvlInfo         = 3
)

// Logger writes build progress to a writer. Create it with New and call
// Close when the builds are done.
type Logger struct {
	w      io.Writer
	format Format
	dir    storepath.Dir
	now    func() time.Time

	mu      sync.Mutex
	nextID  uint64
	buildsA uint64 // id of the "builds" activity (internal-json)
	running map[storepath.Path]*activity
	done    int
	failed  int
	drawn   int // status lines on screen (Bar)
	stop    chan struct{}
	stopped chan struct{}
}

type activity struct {
	id    uint64
	name  string
	start time.Time
	phase string
	last  string

	// A substitution (binarycache.Observer): compressed bytes so far
	// and in all (0: unknown).
	copying    bool
	got, total uint64
}

// Options configure a Logger.
type Options struct {
	// Dir prints derivation paths.
	Dir storepath.Dir
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Refresh is how often the bar redraws elapsed times (default
	// 200ms; negative: only on events).
	Refresh time.Duration
}

// New returns a Logger writing format to w.
func New(w io.Writer, format Format, opts Options) *Logger {
	l := &Logger{w: w, format: format, dir: opts.Dir, now: opts.Now, running: map[storepath.Path]*activity{}}
	if l.now == nil {
		l.now = time.Now
	}
	if format == InternalJSON {
		l.nextID = 1
		l.buildsA = l.newID()
		l.emit(jsonEvent{Action: "start", ID: l.buildsA, Level: lvlInfo, Type: actBuilds, Fields: []any{}, Text: ptr("")})
	}
	if (format == Bar || format == BarWithLogs) && opts.Refresh >= 0 {
		every := opts.Refresh
		if every == 0 {
			every = 200 * time.Millisecond
		}
		l.stop, l.stopped = make(chan struct{}), make(chan struct{})
		go l.tick(every)
	}
	return l
}

func ptr[T any](v T) *T { return &v }

func (l *Logger) newID() uint64 {
	l.nextID++
	return l.nextID - 1
}

func (l *Logger) tick(every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.redraw(nil)
			l.mu.Unlock()
		}
	}
}

// Close stops the live view and clears it; with internal-json it ends
// the "builds" activity.
func (l *Logger) Close() {
	if l.stop != nil {
		close(l.stop)
		<-l.stopped
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.format {
	case Bar, BarWithLogs:
		l.clear()
	case InternalJSON:
		if l.buildsA != 0 {
			l.emit(jsonEvent{Action: "stop", ID: l.buildsA})
			l.buildsA = 0
		}
	}
}

// BuildStarted implements build.Observer.
func (l *Logger) BuildStarted(req *build.Request, opts build.Options) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := &activity{name: req.Name, start: l.now()}
	l.running[req.DrvPath] = a
	drv := l.dir.Print(req.DrvPath)
	text := fmt.Sprintf("building '%s'", drv)
	if opts.Check {
		text = fmt.Sprintf("checking outputs of '%s'", drv)
	}
	switch l.format {
	case Raw:
		fmt.Fprintf(l.w, "%s...\n", text)
	case InternalJSON:
		a.id = l.newID()
		l.emit(jsonEvent{Action: "start", ID: a.id, Level: lvlInfo, Parent: ptr(l.buildsA), Text: &text, Type: actBuild, Fields: []any{drv, "", 1, 1}})
		l.progress()
	default:
		l.redraw(nil)
	}
}

// BuildFinished implements build.Observer.
func (l *Logger) BuildFinished(req *build.Request, res *build.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.running[req.DrvPath]
	delete(l.running, req.DrvPath)
	if err != nil {
		l.failed++
	} else {
		l.done++
	}
	switch l.format {
	case InternalJSON:
		if a != nil {
			l.emit(jsonEvent{Action: "stop", ID: a.id})
		}
		l.progress()
	case Bar, BarWithLogs:
		if a != nil {
			verb := "built"
			if err != nil {
				verb = "failed"
			} else if res != nil && res.Status == build.Checked {
				verb = "checked"
			}
			elapsed := l.now().Sub(a.start).Round(100 * time.Millisecond)
			l.redraw([]string{fmt.Sprintf("%s %s in %s", verb, a.name, elapsed)})
		}
	}
}

// Line takes one line of a builder's output (build.Config.LogLine).
// "@nix {json}" lines are structured messages of the builder: a
// "setPhase" action sets the phase the bar shows; they are not printed.
func (l *Logger) Line(drv storepath.Path, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.running[drv]
	if rest, ok := strings.CutPrefix(line, "@nix "); ok {
		var m struct {
			Action string `json:"action"`
			Phase  string `json:"phase"`
		}
		if json.Unmarshal([]byte(rest), &m) == nil {
			if m.Action == "setPhase" && a != nil {
				a.phase, a.last = m.Phase, ""
				if l.format == InternalJSON {
					l.emit(jsonEvent{Action: "result", ID: a.id, Type: resSetPhase, Fields: []any{m.Phase}})
				}
				if l.format == Bar || l.format == BarWithLogs {
					l.redraw(nil)
				}
			}
			return
		}
	}
	switch l.format {
	case Raw:
		fmt.Fprintln(l.w, line)
	case InternalJSON:
		var id uint64
		if a != nil {
			id = a.id
		}
		l.emit(jsonEvent{Action: "result", ID: id, Type: resBuildLogLine, Fields: []any{line}})
	default:
		if a != nil {
			a.last = line
		}
		var above []string
		if l.format == BarWithLogs {
			name := drv.Name()
			if a != nil {
				name = a.name
			}
			above = []string{name + "> " + line}
		}
		l.redraw(above)
	}
}

// Error reports a message at error level (internal-json "msg"; otherwise
// the text as is).
func (l *Logger) Error(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.format == InternalJSON {
		l.emit(jsonEvent{Action: "msg", Level: lvlError, Msg: &msg})
		return
	}
	l.redraw(nil)
	l.clear()
	io.WriteString(l.w, msg)
}

// progress emits the "builds" activity's progress: done, expected,
// running, failed.
func (l *Logger) progress() {
	n := len(l.running)
	l.emit(jsonEvent{Action: "result", ID: l.buildsA, Type: resProgress, Fields: []any{l.done, l.done + l.failed + n, n, l.failed}})
}

// jsonEvent is one internal-json line; the fields are in the order in
// which Nix (nlohmann::json, sorted keys) prints them.
type jsonEvent struct {
	Action string  `json:"action"`
	Fields []any   `json:"fields,omitempty"`
	ID     uint64  `json:"id,omitempty"`
	Level  int     `json:"level,omitempty"`
	Msg    *string `json:"msg,omitempty"`
	Parent *uint64 `json:"parent,omitempty"`
	Text   *string `json:"text,omitempty"`
	Type   int     `json:"type,omitempty"`
}

func (l *Logger) emit(e jsonEvent) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	// "level":0 of error messages must be kept.
	if e.Action == "msg" {
		b, _ = json.Marshal(struct {
			Action string `json:"action"`
			Level  int    `json:"level"`
			Msg    string `json:"msg"`
		}{e.Action, e.Level, *e.Msg})
	}
	fmt.Fprintf(l.w, "@nix %s\n", b)
}

// clear erases the status lines.
func (l *Logger) clear() {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\x1b[%dF\x1b[J", l.drawn)
		l.drawn = 0
	}
}

// redraw erases the status lines, prints above (lines that scroll away)
// and draws one status line per running build, sorted by name.
func (l *Logger) redraw(above []string) {
	if l.format != Bar && l.format != BarWithLogs {
		return
	}
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", l.drawn)
	}
	for _, s := range above {
		b.WriteString(s)
		b.WriteString("\n")
	}
	acts := make([]*activity, 0, len(l.running))
	for _, a := range l.running {
		acts = append(acts, a)
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i].name < acts[j].name })
	now := l.now()
	for _, a := range acts {
		line := fmt.Sprintf("building %s", a.name)
		if a.copying {
			line = copyingLine(a, now.Sub(a.start))
		}
		if a.phase != "" {
			line += " (" + a.phase + ")"
		}
		line += fmt.Sprintf(" %s", now.Sub(a.start).Round(100*time.Millisecond))
		if a.last != "" {
			line += ": " + a.last
		}
		if len(line) > 120 {
			line = line[:117] + "..."
		}
		b.WriteString(line)
		b.WriteString("\x1b[K\n")
	}
	l.drawn = len(acts)
	io.WriteString(l.w, b.String())
}
