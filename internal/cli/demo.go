package cli

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"cairn/internal/eval"
)

//go:embed demo.nix
var demoSource string

// DemoOptions are the flags of `cairn demo`.
type DemoOptions struct {
	F *Factory
	// Print writes the embedded demo.nix to stdout instead of the tour.
	Print    bool
	ShowHelp bool
	// NoBuild skips the build steps; Cairn adds building cairn itself
	// (--no-cairn clears it); StoreDir overrides the demo store's
	// directory (--store).
	NoBuild  bool
	Cairn    bool
	StoreDir string
}

func newDemoCmd(f *Factory, runF func(*DemoOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &DemoOptions{F: f, Cairn: true}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			switch arg := s.next(); arg {
			case "--print":
				o.Print = true
			case "--help", "-h":
				o.ShowHelp = true
			case "--no-build":
				o.NoBuild = true
			case "--no-cairn":
				o.Cairn = false
			case "--store":
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				o.StoreDir = v
			default:
				return s.unknown(arg)
			}
		}
		return runF(o)
	}
}

// demoStep is one step of the tour: a title, the equivalent command line,
// and how to show the attribute path's value.
type demoStep struct {
	title, cmd, attr string
	show             func(d *demo, v eval.Value) error
	note             string
}

type demo struct {
	s   *session
	out *bufio.Writer
}

func runDemo(ctx context.Context, o *DemoOptions) error {
	f := o.F
	switch {
	case o.ShowHelp:
		_, err := io.WriteString(f.Stdout, `Usage: cairn demo [--print] [--no-build] [--no-cairn] [--store DIR]

Evaluates an embedded example package set step by step; --print shows the
file. Then, from a checkout of cairn, builds pkgs/ in the sandbox into a
chroot store in DIR (default ~/.cache/cairn/demo): the shell-script
package hello (run, logged, rebuilt with --check) and cairn itself
(--no-cairn skips it; --no-build skips all building).
`)
		return err
	case o.Print:
		_, err := io.WriteString(f.Stdout, demoSource)
		return err
	}
	// The demo never writes to a store: paths are computed as the dummy
	// store (and Nix's read-only mode) does.
	flags := &EvalFlags{Settings: []Setting{{"store", "dummy://"}, {"show-trace", "false"}}}
	if err := withSession(ctx, f, flags, storeReadOnly, func(s *session, out *bufio.Writer) error {
		return tour(&demo{s: s, out: out})
	}); err != nil || o.NoBuild {
		return err
	}
	out := bufio.NewWriter(f.Stdout)
	err := buildTour(ctx, f, out, o)
	return errors.Join(err, out.Flush())
}

// tour prints the demo's steps.
func tour(d *demo) error {
	s := d.s
	steps := []demoStep{
		{
			title: "Evaluate the package set: every package's name",
			cmd:   "cairn instantiate --eval --strict demo.nix -A names",
			attr:  "names",
			show:  (*demo).printStrict,
			note:  "The overlay bumped zlib to 1.3 through the fixed point (lib.fix, lib.extends).",
		},
		{
			title: "lib functions at work: concatMapStringsSep, optionalString, versionAtLeast",
			cmd:   "cairn eval --raw -f demo.nix report",
			attr:  "report",
			show:  (*demo).printRaw,
		},
		{
			title: "JSON output: licenses of the packages that declare one (filterAttrs)",
			cmd:   "cairn eval --json -f demo.nix licenses",
			attr:  "licenses",
			show:  (*demo).printJSON,
		},
		{
			title: "Instantiate: the .drv paths of all packages (dummy store: computed, nothing written)",
			cmd:   "NIX_REMOTE=dummy:// cairn instantiate demo.nix -A pkgs",
			attr:  "pkgs",
			show:  (*demo).printDrvs,
			note:  "These are the paths Nix 2.8 computes for the same file. curl and openssl depend on\nzlib, so the overlay's bump changed their paths too.",
		},
		{
			title: "A deliberate mistake: how errors look (position, code, \"did you mean\")",
			cmd:   "cairn instantiate --eval demo.nix -A broken",
			attr:  "broken",
			show:  (*demo).printStrict,
		},
	}
	fmt.Fprintf(d.out, "cairn demo: the Nix language in Go, on an embedded example\n")
	fmt.Fprintf(d.out, "(demo.nix, %d lines: a small package set with lib functions and an overlay;\n", strings.Count(demoSource, "\n"))
	fmt.Fprintf(d.out, " `cairn demo --print > demo.nix` writes it out so you can run the commands below)\n")
	var root eval.Value
	if err := s.run(func() error {
		v, err := s.ev.EvalString(demoSource, "demo.nix", s.cwd)
		root = v
		return err
	}); err != nil {
		return err
	}
	for i, st := range steps {
		fmt.Fprintf(d.out, "\n[%d/%d] %s\n      $ %s\n", i+1, len(steps), st.title, st.cmd)
		err := s.run(func() error {
			v, err := findAlongAttrPath(s.ev, st.attr, nil, root)
			if err != nil {
				return err
			}
			return st.show(d, v)
		})
		var ee *evalError
		if errors.As(err, &ee) {
			// Errors are part of the tour: show them as Nix prints them.
			d.out.WriteString(eval.FormatError(ee.fset, ee.err, ee.showTrace))
			d.out.WriteString("      (exit status 1)\n")
		} else if err != nil {
			return err
		}
		if st.note != "" {
			fmt.Fprintf(d.out, "  %s\n", strings.ReplaceAll(st.note, "\n", "\n  "))
		}
	}
	fmt.Fprintf(d.out, "\nThat was cairn instantiate/eval on the demo; try `cairn repl` and `:l demo.nix` next.\n")
	return nil
}

func (d *demo) printStrict(v eval.Value) error {
	if err := d.s.ev.ForceDeep(v); err != nil {
		return err
	}
	if err := d.s.ev.PrintAmbiguous(d.out, v); err != nil {
		return err
	}
	return d.out.WriteByte('\n')
}

func (d *demo) printRaw(v eval.Value) error {
	s, err := d.s.ev.CoerceToString(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(d.out, s)
	return err
}

func (d *demo) printJSON(v eval.Value) error {
	if err := d.s.ev.WriteJSON(d.out, v, true); err != nil {
		return err
	}
	return d.out.WriteByte('\n')
}

func (d *demo) printDrvs(v eval.Value) error {
	var drvs []drvInfo
	if err := getDerivations(d.s.ev, v, "", nil, &drvs, map[*eval.Attrs]bool{}); err != nil {
		return err
	}
	for _, x := range drvs {
		if _, err := fmt.Fprintf(d.out, "%-8s %s\n", x.attrPath, x.drvPath); err != nil {
			return err
		}
	}
	return nil
}
