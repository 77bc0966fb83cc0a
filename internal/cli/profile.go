package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/profile"
	"cairn/internal/store/local"
)

// This file holds `cairn profile …` (Nix 2.8's `nix profile`, plus
// switch-generation from nix-env) and `cairn store diff-closures`.

func profileSubcommands() []subcommand {
	sub := func(name, short string, run func(ctx context.Context, o *ProfileOptions) error, flags ...string) subcommand {
		return subcommand{name, short, func(ctx context.Context, f *Factory, args []string) error {
			return newProfileCmd(f, name, flags, func(o *ProfileOptions) error { return run(ctx, o) })(args)
		}}
	}
	return []subcommand{
		sub("install", "install store paths (or built packages of --file/--expr) into a profile", runProfileInstall, "--file"),
		sub("remove", "remove packages from a profile", runProfileRemove),
		sub("upgrade", "upgrade packages using their most recent flake", runProfileUpgrade),
		sub("list", "list installed packages", runProfileList),
		sub("history", "show all versions of a profile", runProfileHistory),
		sub("rollback", "roll back to the previous version or a specified version of a profile", runProfileRollback, "--to", "--dry-run"),
		sub("switch-generation", "make a given version of a profile current", runProfileSwitch, "--dry-run"),
		sub("wipe-history", "delete non-current versions of a profile", runProfileWipe, "--older-than", "--dry-run"),
		sub("diff-closures", "show the closure difference between each version of a profile", runProfileDiffClosures),
	}
}

// ProfileOptions are the flags of the `cairn profile` commands.
type ProfileOptions struct {
	F       *Factory
	Store   StoreFlags
	Command string
	Profile string // --profile; "" means the default profile
	Args    []string

	File  string     // install --file: Args are attribute paths in this file
	Expr  string     // install --expr: Args are attribute paths in this expression
	Build BuildFlags // install: settings for building derivations

	To        uint64 // rollback --to
	OlderThan string // wipe-history --older-than
	DryRun    bool
}

func newProfileCmd(f *Factory, name string, flags []string, runF func(*ProfileOptions) error) func([]string) error {
	return func(args []string) error {
		o := &ProfileOptions{F: f, Command: name, Build: BuildFlags{Cores: -1}}
		s := &argScanner{prog: f.Prog, args: args}
		has := func(flag string) bool { return slices.Contains(flags, flag) }
		for s.more() {
			arg := s.next()
			switch {
			case arg == "--profile":
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				o.Profile = v
			case (arg == "--file" || arg == "-f" || arg == "--expr") && has("--file"):
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				if arg == "--expr" {
					o.Expr = v
				} else {
					o.File = v
				}
			case arg == "--dry-run" && has(arg):
				o.DryRun = true
			case arg == "--to" && has(arg):
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return &usageError{f.Prog, fmt.Sprintf("invalid integer '%s'", v)}
				}
				o.To = n
			case arg == "--older-than" && has(arg):
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				o.OlderThan = v
			default:
				if has("--file") {
					if ok, err := parseBuildFlag(s, arg, &o.Build); err != nil {
						return err
					} else if ok {
						continue
					}
				}
				if err := storeArg(s, arg, &o.Store, &o.Args); err != nil {
					return err
				}
			}
		}
		switch name {
		case "list", "history", "rollback", "wipe-history", "diff-closures":
			if len(o.Args) > 0 {
				return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", o.Args[0])}
			}
		case "switch-generation":
			if len(o.Args) != 1 {
				return &usageError{f.Prog, "expected one argument, the version to switch to"}
			}
			n, err := strconv.ParseUint(o.Args[0], 10, 32)
			if err != nil || n == 0 {
				return &usageError{f.Prog, fmt.Sprintf("invalid version '%s'", o.Args[0])}
			}
			o.To = n
		}
		return runF(o)
	}
}

// profilePath returns the profile to work on: --profile made absolute,
// else the target of ~/.nix-profile, else Nix's default for the user
// under the store's state directory.
func profilePath(o *ProfileOptions, st *local.Store) (string, error) {
	if o.Profile != "" {
		return o.F.abs(o.Profile)
	}
	if home := o.F.getenv("HOME"); home != "" {
		link := filepath.Join(home, ".nix-profile")
		if t, err := os.Readlink(link); err == nil {
			if !filepath.IsAbs(t) {
				t = filepath.Join(home, t)
			}
			return t, nil
		}
	}
	if os.Geteuid() == 0 {
		return filepath.Join(st.StateDir(), "profiles", "default"), nil
	}
	name := o.F.getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return filepath.Join(st.StateDir(), "profiles", "per-user", name, "profile"), nil
}

func withProfile(ctx context.Context, o *ProfileOptions, fn func(st *local.Store, prof string, out *bufio.Writer) error) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		prof, err := profilePath(o, st)
		if err != nil {
			return err
		}
		return fn(st, prof, out)
	})
}

func (o *ProfileOptions) notice(format string, args ...any) {
	fmt.Fprintf(o.F.Stderr, format+"\n", args...)
}

func reportEnv(o *ProfileOptions, res *profile.EnvResult) {
	if res == nil {
		return
	}
	for _, w := range res.Warnings {
		o.notice("warning: %s", w)
	}
}

// runProfileInstall installs store paths, derivations' outputs
// ("x.drv", "x.drv^out") and, with --file/--expr, the derivations at the
// attribute paths given; derivations are built first.
func runProfileInstall(ctx context.Context, o *ProfileOptions) error {
	return withSession(ctx, o.F, &o.Store, storeReadWrite, func(s *session, out *bufio.Writer) error {
		st, err := s.io.Store()
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("installing needs a local store (--store /some/dir or local?root=/some/dir)")
		}
		prof, err := profilePath(o, st)
		if err != nil {
			return err
		}
		// One element per installable, in order; derivations are
		// filled in after the build.
		type slot struct {
			paths []storepath.Path
			in    *installable
		}
		var slots []slot
		if o.File != "" || o.Expr != "" {
			if o.File != "" && o.Expr != "" {
				return &usageError{o.F.Prog, "'--file' and '--expr' are exclusive"}
			}
			files, fromExpr := []string{o.File}, false
			if o.Expr != "" {
				files, fromExpr = []string{o.Expr}, true
			}
			ins, err := evalInstallables(s, files, fromExpr, o.Args)
			if err != nil {
				return err
			}
			for i := range ins {
				slots = append(slots, slot{in: &ins[i]})
			}
		} else {
			for _, a := range o.Args {
				in, ok, err := parseDrvArg(o.F, st.Dir(), a)
				if err != nil {
					return err
				}
				if ok {
					slots = append(slots, slot{in: &in})
					continue
				}
				p, err := installablePath(o.F, st, a)
				if err != nil {
					return err
				}
				slots = append(slots, slot{paths: []storepath.Path{p}})
			}
		}
		var drvs []storepath.Path
		for _, sl := range slots {
			if sl.in != nil {
				drvs = append(drvs, sl.in.drv)
			}
		}
		if len(drvs) > 0 {
			bl, err := newBuilder(o.F, st, &o.Store, &o.Build)
			if err != nil {
				return err
			}
			if _, err := bl.realise(ctx, drvs, false); err != nil {
				return err
			}
		}
		var add []profile.Element
		for _, sl := range slots {
			if sl.in != nil {
				names, outs, err := builtOutputs(ctx, st, *sl.in)
				if err != nil {
					return err
				}
				for _, n := range names {
					sl.paths = append(sl.paths, outs[n])
				}
			}
			add = append(add, profile.Element{StorePaths: sortedPaths(sl.paths), Active: true})
		}
		_, _, res, err := profile.Update(ctx, st, prof, func(m *profile.Manifest) error {
			m.Elements = append(m.Elements, add...)
			return nil
		})
		reportEnv(o, res)
		return err
	})
}

func sortedPaths(ps []storepath.Path) []storepath.Path {
	slices.SortFunc(ps, storepath.Compare)
	return slices.Compact(ps)
}

// installablePath resolves an installable to a valid store path. Only
// store paths (or links to them, like ./result) can be installed: there
// is no builder yet.
func installablePath(f *Factory, st *local.Store, arg string) (storepath.Path, error) {
	looksLikePath := strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") || !strings.Contains(arg, "#") && !strings.Contains(arg, ":")
	if !looksLikePath || strings.HasSuffix(arg, ".nix") {
		return storepath.Path{}, fmt.Errorf("cannot install '%s': flake references are not supported yet; install store paths, derivations, or attributes with --file FILE or --expr EXPR", arg)
	}
	p, err := storePathArg(f, st.Dir(), arg)
	if err != nil {
		return p, fmt.Errorf("cannot install '%s': %w", arg, err)
	}
	ok, err := st.IsValid(context.Background(), p)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, fmt.Errorf("cannot install '%s': path '%s' is not valid (substituting is not supported yet; install the derivation that builds it instead)", arg, st.Dir().Print(p))
	}
	return p, nil
}

// matcher selects profile elements as Nix's MixProfileElementMatchers: a
// number is an index, a store path matches elements containing it, and
// anything else is a case-insensitive POSIX extended regex that must
// match the whole attribute path (cairn also tries it on the package
// names of elements without a flake source, which Nix 2.8 never
// matches).
type matcher struct {
	arg   string
	index int
	path  storepath.Path
	re    *regexp.Regexp
}

func parseMatchers(f *Factory, st *local.Store, args []string) ([]matcher, error) {
	var ms []matcher
	for _, a := range args {
		m := matcher{arg: a, index: -1}
		if n, err := strconv.ParseUint(a, 10, 63); err == nil {
			m.index = int(n)
		} else if p, err := st.Dir().Parse(a); err == nil {
			m.path = p
		} else {
			re, err := regexp.Compile("(?i)^(?:" + a + ")$")
			if err != nil {
				return nil, fmt.Errorf("invalid regex '%s': %w", a, err)
			}
			m.re = re
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func (m matcher) matches(e *profile.Element, pos int) bool {
	switch {
	case m.index >= 0:
		return m.index == pos
	case !m.path.IsZero():
		return slices.Contains(e.StorePaths, m.path)
	case e.Source != nil:
		return m.re.MatchString(e.Source.AttrPath)
	default:
		for _, p := range e.StorePaths {
			if n, _ := profile.SplitName(p.Name()); m.re.MatchString(n) {
				return true
			}
		}
	}
	return false
}

func anyMatch(ms []matcher, e *profile.Element, pos int) bool {
	for _, m := range ms {
		if m.matches(e, pos) {
			return true
		}
	}
	return false
}

func warnNoMatch(o *ProfileOptions, ms []matcher) {
	for _, m := range ms {
		switch {
		case m.index >= 0:
			o.notice("warning: '%d' is not a valid index", m.index)
		case !m.path.IsZero():
			o.notice("warning: '%s' does not match any paths", m.arg)
		default:
			o.notice("warning: '%s' does not match any packages", m.arg)
		}
	}
	o.notice("warning: Use 'nix profile list' to see the current profile.")
}

func runProfileRemove(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		ms, err := parseMatchers(o.F, st, o.Args)
		if err != nil {
			return err
		}
		_, _, res, err := profile.Update(ctx, st, prof, func(m *profile.Manifest) error {
			var kept []profile.Element
			for i := range m.Elements {
				e := &m.Elements[i]
				if anyMatch(ms, e, i) {
					o.notice("removing '%s'", e.Describe())
				} else {
					kept = append(kept, *e)
				}
			}
			removed := len(m.Elements) - len(kept)
			o.notice("removed %d packages, kept %d packages", removed, len(kept))
			if removed == 0 {
				warnNoMatch(o, ms)
			}
			m.Elements = kept
			return nil
		})
		reportEnv(o, res)
		return err
	})
}

// runProfileUpgrade follows Nix 2.8: only elements installed from an
// unlocked flake are upgraded. cairn cannot evaluate flakes yet, so such
// an element is an error; store paths are left as they are.
func runProfileUpgrade(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		ms, err := parseMatchers(o.F, st, o.Args)
		if err != nil {
			return err
		}
		_, _, res, err := profile.Update(ctx, st, prof, func(m *profile.Manifest) error {
			for i := range m.Elements {
				e := &m.Elements[i]
				if e.Source != nil && anyMatch(ms, e, i) {
					return fmt.Errorf("cannot upgrade '%s': evaluating flakes is not supported yet", e.Describe())
				}
			}
			warnNoMatch(o, ms)
			return nil
		})
		reportEnv(o, res)
		return err
	})
}

func runProfileList(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		m, err := profile.ReadManifest(st, prof)
		if err != nil {
			return err
		}
		for i, e := range m.Elements {
			orig, locked := "-", "-"
			if e.Source != nil {
				orig, locked = e.Source.OriginalURL+"#"+e.Source.AttrPath, e.Source.URL+"#"+e.Source.AttrPath
			}
			paths := make([]string, len(e.StorePaths))
			for j, p := range e.StorePaths {
				paths[j] = st.Dir().Print(p)
			}
			fmt.Fprintf(out, "%d %s %s %s\n", i, orig, locked, strings.Join(paths, " "))
		}
		return nil
	})
}

func runProfileHistory(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		return profile.WriteHistory(out, st, prof)
	})
}

func switchProfile(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		lock, err := profile.LockProfile(ctx, prof)
		if err != nil {
			return err
		}
		from, to, err := profile.Switch(prof, o.To, o.DryRun)
		if err == nil {
			o.notice("switching profile from version %d to %d", from, to)
		}
		return errors.Join(err, lock.Unlock())
	})
}

func runProfileRollback(ctx context.Context, o *ProfileOptions) error { return switchProfile(ctx, o) }
func runProfileSwitch(ctx context.Context, o *ProfileOptions) error   { return switchProfile(ctx, o) }

func runProfileWipe(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		var cutoff time.Time
		if o.OlderThan != "" {
			var err error
			if cutoff, err = profile.ParseOlderThan(o.OlderThan, time.Now()); err != nil {
				return &usageError{o.F.Prog, err.Error()}
			}
		}
		lock, err := profile.LockProfile(ctx, prof)
		if err != nil {
			return err
		}
		var del []uint64
		if o.OlderThan != "" {
			del, err = profile.DeleteGenerationsOlderThan(prof, cutoff, o.DryRun)
		} else {
			del, err = profile.DeleteOldGenerations(prof, o.DryRun)
		}
		for _, n := range del {
			if o.DryRun {
				o.notice("would remove profile version %d", n)
			} else {
				o.notice("removing profile version %d", n)
			}
		}
		return errors.Join(err, lock.Unlock())
	})
}

func runProfileDiffClosures(ctx context.Context, o *ProfileOptions) error {
	return withProfile(ctx, o, func(st *local.Store, prof string, out *bufio.Writer) error {
		return profile.WriteProfileClosureDiffs(ctx, out, st, prof)
	})
}
