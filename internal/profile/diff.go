package profile

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// ClosureChange is one line of a closure diff: a package (name without
// version and output) whose versions changed or whose size changed by at
// least 8 KiB.
type ClosureChange struct {
	Name      string   `json:"name"`
	Removed   []string `json:"versionsBefore"` // versions only in the old closure, sorted
	Added     []string `json:"versionsAfter"`  // versions only in the new closure, sorted
	SizeDelta int64    `json:"sizeDelta"`      // bytes of NAR, after minus before
	// ShowDelta is set when |SizeDelta| >= 8 KiB (Nix prints the size
	// only then).
	ShowDelta bool `json:"-"`
}

// outputSuffix strips an output name from a path name, as Nix's
// diff-closures (ambiguous with versions like "unstable"). It is compiled
// on first use, not in every cairn process's start-up.
var outputSuffix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.*)-([a-z]+|lib32|lib64)$`) })

type versions map[string]uint64 // version -> total NAR size

// closureInfo groups the closure of top by package name and version.
func closureInfo(ctx context.Context, st store.Store, top storepath.Path) (map[string]versions, error) {
	closure, err := store.Closure(ctx, st, []storepath.Path{top}, store.ClosureOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]versions{}
	for _, p := range closure {
		name := p.Name()
		if m := outputSuffix().FindStringSubmatch(name); m != nil {
			name = m[1]
		}
		n, v := SplitName(name)
		info, err := st.QueryPathInfo(ctx, p)
		if err != nil {
			return nil, err
		}
		if out[n] == nil {
			out[n] = versions{}
		}
		out[n][v] += info.NarSize
	}
	return out, nil
}

// DiffClosures compares the closures of before and after as Nix's
// diff-closures: per package name (sorted), the versions removed and
// added and the change in total NAR size. Names with no version change
// and a size change under 8 KiB are left out.
func DiffClosures(ctx context.Context, st store.Store, before, after storepath.Path) ([]ClosureChange, error) {
	b, err := closureInfo(ctx, st, before)
	if err != nil {
		return nil, err
	}
	a, err := closureInfo(ctx, st, after)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range b {
		names[n] = true
	}
	for n := range a {
		names[n] = true
	}
	var out []ClosureChange
	for _, name := range sortedKeys(names) {
		bv, av := b[name], a[name]
		var bs, as uint64
		for _, s := range bv {
			bs += s
		}
		for _, s := range av {
			as += s
		}
		c := ClosureChange{Name: name, SizeDelta: int64(as) - int64(bs), Removed: []string{}, Added: []string{}}
		c.ShowDelta = c.SizeDelta >= 8*1024 || c.SizeDelta <= -8*1024
		for v := range bv {
			if _, ok := av[v]; !ok {
				c.Removed = append(c.Removed, v)
			}
		}
		for v := range av {
			if _, ok := bv[v]; !ok {
				c.Added = append(c.Added, v)
			}
		}
		sort.Strings(c.Removed)
		sort.Strings(c.Added)
		if c.ShowDelta || len(c.Removed) > 0 || len(c.Added) > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// ANSI escapes as Nix prints them (unconditionally, even to a pipe).
const (
	ansiNormal = "\x1b[0m"
	ansiRed    = "\x1b[31;1m"
	ansiGreen  = "\x1b[32;1m"
	ansiBold   = "\x1b[1m"
)

// WriteClosureDiff prints changes as Nix's printClosureDiff, one line
// each: "<indent>name: 1.0 → 1.1, +12.3 KiB" (the size coloured red for
// growth, green for shrinkage, as Nix does).
func WriteClosureDiff(w io.Writer, changes []ClosureChange, indent string) error {
	for _, c := range changes {
		var items []string
		if len(c.Removed) > 0 || len(c.Added) > 0 {
			items = append(items, ShowVersions(c.Removed)+" → "+ShowVersions(c.Added))
		}
		if c.ShowDelta {
			color := ansiGreen
			if c.SizeDelta > 0 {
				color = ansiRed
			}
			items = append(items, color+formatKiB(c.SizeDelta)+ansiNormal)
		}
		if _, err := fmt.Fprintf(w, "%s%s: %s\n", indent, c.Name, strings.Join(items, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// formatKiB is printf("%+.1f KiB", delta/1024.0).
func formatKiB(delta int64) string {
	return fmt.Sprintf("%+.1f KiB", float64(delta)/1024)
}

// HistoryVersionHeader renders the first line of a generation in `nix
// profile history` (number green if current, else bold).
func HistoryVersionHeader(g Generation, current bool, prev uint64) string {
	color := ansiBold
	if current {
		color = ansiGreen
	}
	s := fmt.Sprintf("Version %s%d%s (%s)", color, g.Number, ansiNormal, g.Created.UTC().Format("2006-01-02"))
	if prev != 0 {
		s += fmt.Sprintf(" <- %d", prev)
	}
	return s + ":\n"
}

// WriteHistory prints the generations of profile as `nix profile
// history` does: per version its number (green if current, else bold),
// the date of its link (UTC), the version it follows, and the package
// changes from that version.
func WriteHistory(w io.Writer, st Store, profile string) error {
	gens, cur, err := Generations(profile)
	if err != nil {
		return err
	}
	var prev *Manifest
	var prevNum uint64
	var b strings.Builder
	for i, g := range gens {
		m, err := ReadManifest(st, g.Link)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(HistoryVersionHeader(g, g.Number == cur, prevNum))
		WriteDiff(&b, prev, m, "  ")
		prev, prevNum = m, g.Number
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// WriteProfileClosureDiffs prints the closure differences between
// consecutive generations of profile as `nix profile diff-closures`.
func WriteProfileClosureDiffs(ctx context.Context, w io.Writer, st Store, profile string) error {
	gens, _, err := Generations(profile)
	if err != nil {
		return err
	}
	for i := 1; i < len(gens); i++ {
		before, err := FollowToStore(st.Dir(), gens[i-1].Link)
		if err != nil {
			return err
		}
		after, err := FollowToStore(st.Dir(), gens[i].Link)
		if err != nil {
			return err
		}
		sep := ""
		if i > 1 {
			sep = "\n"
		}
		if _, err := fmt.Fprintf(w, "%sVersion %d -> %d:\n", sep, gens[i-1].Number, gens[i].Number); err != nil {
			return err
		}
		changes, err := DiffClosures(ctx, st, before, after)
		if err != nil {
			return err
		}
		if err := WriteClosureDiff(w, changes, "  "); err != nil {
			return err
		}
	}
	return nil
}
