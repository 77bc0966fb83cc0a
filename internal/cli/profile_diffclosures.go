package cli

import (
	"bufio"
	"context"
	"encoding/json"

	"cairn/internal/profile"
	"cairn/internal/store/local"
)

// StoreDiffClosuresOptions are the flags of `cairn store diff-closures`
// (Nix's `nix store diff-closures`; --json is cairn's own).
type StoreDiffClosuresOptions struct {
	F             *Factory
	Store         StoreFlags
	JSON          bool
	Before, After string
}

func newStoreDiffClosuresCmd(f *Factory, runF func(*StoreDiffClosuresOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreDiffClosuresOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			switch arg {
			case "--json":
				o.JSON = true
			default:
				if err := storeArg(s, arg, &o.Store, &pos); err != nil {
					return err
				}
			}
		}
		if len(pos) != 2 {
			return &usageError{f.Prog, "expected two arguments, the closures before and after"}
		}
		o.Before, o.After = pos[0], pos[1]
		return runF(o)
	}
}

// diffClosuresJSON is one package of the --json output, keyed by name:
// {"hello":{"versionsBefore":["1.0"],"versionsAfter":["1.1"],"sizeDelta":12595}}.
type diffClosuresJSON struct {
	VersionsBefore []string `json:"versionsBefore"`
	VersionsAfter  []string `json:"versionsAfter"`
	SizeDelta      int64    `json:"sizeDelta"`
}

func runStoreDiffClosures(ctx context.Context, o *StoreDiffClosuresOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		ps, err := validStorePaths(ctx, o.F, st, []string{o.Before, o.After})
		if err != nil {
			return err
		}
		changes, err := profile.DiffClosures(ctx, st, ps[0], ps[1])
		if err != nil {
			return err
		}
		if !o.JSON {
			return profile.WriteClosureDiff(out, changes, "")
		}
		m := map[string]diffClosuresJSON{}
		for _, c := range changes {
			m[c.Name] = diffClosuresJSON{c.Removed, c.Added, c.SizeDelta}
		}
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return enc.Encode(m)
	})
}
