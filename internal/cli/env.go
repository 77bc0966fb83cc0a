package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"

	"cairn/internal/pkglist"
)

// EnvOptions are the nix-env flags cairn supports: the query of available
// packages (nix-env -f FILE -qa [-P] [--json] …).
type EnvOptions struct {
	F    *Factory
	Eval EvalFlags

	File         string // -f / --file
	Query        bool   // -q / --query
	Available    bool   // -a / --available
	AttrPath     string // -A / --attr (a selection path into the file's value)
	SystemFilter string // --system-filter (default "*")
	Columns      pkglist.Columns
	JSON         bool // --json
	Meta         bool // --meta (with --json)
	Selectors    []string
	ShowHelp     bool
}

// expandShortFlags splits compound dash options as Nix's parseCmdLine
// does: -qaP → -q -a -P, and -j3 → -j 3.
func expandShortFlags(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && isAlpha(a[1]) {
			out = append(out, a[:2])
			for j := 2; j < len(a); j++ {
				if !isAlpha(a[j]) {
					out = append(out, a[j:])
					break
				}
				out = append(out, "-"+a[j:j+1])
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// newEnvCmd returns the function that parses nix-env's command line into
// EnvOptions and calls runF.
func newEnvCmd(f *Factory, runF func(*EnvOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &EnvOptions{F: f, SystemFilter: "*", Columns: pkglist.Columns{Name: true}}
		s := &argScanner{prog: f.Prog, args: expandShortFlags(args)}
		for s.more() {
			arg := s.next()
			switch arg {
			case "--help":
				o.ShowHelp = true
			case "-f", "--file":
				v, err := s.legacyValue(arg)
				if err != nil {
					return err
				}
				o.File = v
			case "-q", "--query":
				o.Query = true
			case "-a", "--available":
				o.Available = true
			case "-P", "--attr-path":
				o.Columns.AttrPath = true
			case "-A", "--attr":
				v, err := s.legacyValue(arg)
				if err != nil {
					return err
				}
				o.AttrPath = v
			case "--system-filter":
				v, err := s.legacyValue(arg)
				if err != nil {
					return err
				}
				o.SystemFilter = v
			case "--no-name":
				o.Columns.Name = false
			case "--system":
				o.Columns.System = true
			case "--drv-path":
				o.Columns.DrvPath = true
			case "--out-path":
				o.Columns.OutPath = true
			case "--description":
				o.Columns.Description = true
			case "--json":
				o.JSON = true
			case "--meta":
				o.Meta = true
			default:
				if err := evalFlagOrArg(s, arg, &o.Eval, &o.Selectors); err != nil {
					return err
				}
			}
		}
		return runF(o)
	}
}

const envHelp = `Usage: cairn env -f FILE -qa [options...] [selectors...]

Lists the packages of a Nix expression as nix-env -qa does (only the
query of available packages is implemented):

  -f, --file FILE       the expression (a file, or a directory with default.nix)
  -q -a                 query available packages (may be written -qa)
  -P, --attr-path       print the attribute path of each package
  -A, --attr PATH       list only below this attribute path
  --description         print meta.description
  --system, --drv-path, --out-path, --no-name   other columns
  --json [--meta]       print a JSON object instead of a table
  --system-filter SYS   only packages for system SYS (default *)
  --arg, --argstr, -I, --option, --compat current|2.8, --show-trace
`

// runEnv is nix-env's main for -qa.
func runEnv(ctx context.Context, o *EnvOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, envHelp)
		return err
	}
	if !o.Query {
		return &usageError{f.Prog, "only the query operation (-q) is supported"}
	}
	if !o.Available {
		return &usageError{f.Prog, "only the query of available packages (-qa) is supported"}
	}
	if o.File == "" {
		return &usageError{f.Prog, "no expression given (use -f FILE)"}
	}
	sels, err := parseSelectors(o.Selectors)
	if err != nil {
		return err
	}
	return withSession(ctx, f, &o.Eval, storeReadOnly, func(s *session, out *bufio.Writer) error {
		return s.run(func() error { return queryAvailable(s, out, o, sels) })
	})
}

func queryAvailable(s *session, out *bufio.Writer, o *EnvOptions, sels []selector) error {
	ev := s.ev
	autoArgs, err := s.autoArgs()
	if err != nil {
		return err
	}
	file, err := s.lookupFileArg(o.File)
	if err != nil {
		return err
	}
	root, err := ev.EvalMainFile(file)
	if err != nil {
		return err
	}
	v, err := findAlongAttrPath(ev, o.AttrPath, autoArgs, root)
	if err != nil {
		return err
	}
	pkgs, err := pkglist.Find(ev, v, o.AttrPath, autoArgs)
	if err != nil {
		return err
	}
	if pkgs, err = pkglist.FilterSystem(ev, pkgs, o.SystemFilter); err != nil {
		return err
	}
	pkgs = filterBySelectors(pkgs, sels)
	pkglist.SortByName(pkgs)
	if o.JSON {
		_, err := pkglist.WriteJSON(ev, out, pkgs, pkglist.JSONOptions{OutPath: o.Columns.OutPath, Meta: o.Meta, Log: s.f.Stderr})
		return err
	}
	rows, _, err := pkglist.Rows(ev, pkgs, o.Columns)
	if err != nil {
		return err
	}
	return pkglist.WriteTable(out, rows)
}

// selector is a nix-env package selector (Nix's DrvName): a name, which
// is a POSIX extended regular expression or "*", and an optional version.
type selector struct {
	name    *regexp.Regexp // nil for "*"
	version string
}

func parseSelectors(args []string) ([]selector, error) {
	var out []selector
	for _, a := range args {
		name, version := pkglist.DrvName(a)
		sel := selector{version: version}
		if name != "*" {
			rx, err := regexp.CompilePOSIX("^(" + name + ")$")
			if err != nil {
				return nil, fmt.Errorf("invalid package selector '%s': %w", a, err)
			}
			sel.name = rx
		}
		out = append(out, sel)
	}
	return out, nil
}

// filterBySelectors is nix-env's filterBySelector without --newest-only:
// the packages each selector matches, selector by selector, each package
// once; no selectors keep everything.
func filterBySelectors(pkgs []*pkglist.Package, sels []selector) []*pkglist.Package {
	if len(sels) == 0 {
		return pkgs
	}
	var out []*pkglist.Package
	done := make([]bool, len(pkgs))
	for _, sel := range sels {
		for i, p := range pkgs {
			name, version := pkglist.DrvName(p.Name)
			if (sel.name == nil || sel.name.MatchString(name)) && (sel.version == "" || sel.version == version) && !done[i] {
				done[i] = true
				out = append(out, p)
			}
		}
	}
	return out
}
