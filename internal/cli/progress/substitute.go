package progress

import (
	"fmt"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/store/binarycache"
)

// Nix's activity type of a substitution (src/libutil/logging.hh).
const actSubstitute = 108

var _ binarycache.Observer = (*Logger)(nil)

// SubstitutePlanned implements binarycache.Observer; the plan is not
// shown (each download is, as it starts).
func (l *Logger) SubstitutePlanned(paths int, fileSize, narSize uint64) {}

// SubstituteStarted implements binarycache.Observer. Raw prints Nix's
// "copying path '…' from '…'..." line; the bar shows a status line with
// the bytes downloaded; internal-json starts a substitution activity.
func (l *Logger) SubstituteStarted(from string, ni *narinfo.NarInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	path := ni.StoreDir.Print(ni.StorePath)
	text := fmt.Sprintf("copying path '%s' from '%s'", path, from)
	a := &activity{name: ni.StorePath.Name(), start: l.now(), copying: true, total: ni.FileSize}
	if old := l.running[ni.StorePath]; old != nil && l.format == InternalJSON {
		l.emit(jsonEvent{Action: "stop", ID: old.id}) // a retry
	}
	l.running[ni.StorePath] = a
	switch l.format {
	case Raw:
		fmt.Fprintf(l.w, "%s...\n", text)
	case InternalJSON:
		a.id = l.newID()
		l.emit(jsonEvent{Action: "start", ID: a.id, Level: lvlInfo, Parent: ptr(l.buildsA), Text: &text, Type: actSubstitute, Fields: []any{path, from}})
	default:
		l.redraw(nil)
	}
}

// SubstituteProgress implements binarycache.Observer.
func (l *Logger) SubstituteProgress(ni *narinfo.NarInfo, fileBytes uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.running[ni.StorePath]
	if a == nil || !a.copying {
		return
	}
	a.got = fileBytes
	switch l.format {
	case InternalJSON:
		l.emit(jsonEvent{Action: "result", ID: a.id, Type: resProgress, Fields: []any{fileBytes, ni.FileSize, 0, 0}})
	case Bar, BarWithLogs:
		l.redraw(nil)
	}
}

// SubstituteFinished implements binarycache.Observer. A failure is not
// printed here: the command reports the error it gets.
func (l *Logger) SubstituteFinished(ni *narinfo.NarInfo, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.running[ni.StorePath]
	if a == nil || !a.copying {
		return
	}
	delete(l.running, ni.StorePath)
	switch l.format {
	case InternalJSON:
		l.emit(jsonEvent{Action: "stop", ID: a.id})
	case Bar, BarWithLogs:
		var above []string
		if err == nil {
			above = []string{fmt.Sprintf("copied %s (%s) in %s", a.name, mib(a.got), l.now().Sub(a.start).Round(100*time.Millisecond))}
		}
		l.redraw(above)
	}
}

// copyingLine is the start of a download's status line: "copying NAME
// GOT of TOTAL, RATE, ETA T", the rate over the download so far (none
// before any bytes or time), the ETA only if the total is known.
func copyingLine(a *activity, elapsed time.Duration) string {
	line := fmt.Sprintf("copying %s %s", a.name, mib(a.got))
	if a.total > 0 {
		line += " of " + mib(a.total)
	}
	if a.got == 0 || elapsed <= 0 {
		return line
	}
	perSec := float64(a.got) / elapsed.Seconds()
	line += ", " + rate(perSec)
	// An ETA beyond 100 hours says nothing (and would overflow).
	if secs := float64(a.total-a.got) / perSec; a.total > a.got && secs < 100*3600 {
		line += ", ETA " + time.Duration(secs*float64(time.Second)).Round(time.Second).String()
	}
	return line
}

// rate formats bytes per second: MiB/s with one decimal, KiB/s below
// one MiB/s.
func rate(perSec float64) string {
	if perSec < 1<<20 {
		return fmt.Sprintf("%.0f KiB/s", perSec/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB/s", perSec/(1<<20))
}

// mib formats a byte count in MiB with one decimal.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
