package cli

import (
	"fmt"
	"strconv"
	"strings"

	"cairn/internal/lang/parser"
)

// argScanner walks a command line Nix-style: flags and their values are
// separate words, some flags take two values (--arg name expr), and "-"
// is an ordinary argument.
type argScanner struct {
	prog string
	args []string
	i    int
}

func (s *argScanner) more() bool { return s.i < len(s.args) }

func (s *argScanner) next() string {
	a := s.args[s.i]
	s.i++
	return a
}

// values returns the n words after flag, or Nix's usage error.
func (s *argScanner) values(flag string, n int) ([]string, error) {
	if s.i+n > len(s.args) {
		return nil, &usageError{s.prog, fmt.Sprintf("flag '%s' requires %d argument(s)", flag, n)}
	}
	v := s.args[s.i : s.i+n]
	s.i += n
	return v, nil
}

func (s *argScanner) value(flag string) (string, error) {
	v, err := s.values(flag, 1)
	if err != nil {
		return "", err
	}
	return v[0], nil
}

// legacyValue is nix-instantiate's own getArg ("'-A' requires an argument").
func (s *argScanner) legacyValue(flag string) (string, error) {
	if !s.more() {
		return "", &usageError{s.prog, fmt.Sprintf("'%s' requires an argument", flag)}
	}
	return s.next(), nil
}

func (s *argScanner) unknown(flag string) error {
	return &usageError{s.prog, fmt.Sprintf("unrecognised flag '%s'", flag)}
}

// AutoArg is one --arg (Nix expression) or --argstr (string) argument.
type AutoArg struct {
	Name, Value string
	IsString    bool
}

// Setting is one Nix setting given on the command line (--option name
// value, --name value, --name / --no-name for Booleans).
type Setting struct {
	Name, Value string
}

// EvalFlags are the flags shared by the evaluating commands (Nix's
// MixEvalArgs and the settings flags, plus cairn's own).
type EvalFlags struct {
	Include    []string  // -I / --include, in order
	Args       []AutoArg // --arg / --argstr, in order
	Settings   []Setting // in order; they override NIX_CONFIG
	CPUProfile string    // --cpuprofile FILE
	MemProfile string    // --memprofile FILE
	Compat     string    // --compat current|2.8
}

// Setting names cairn knows. Boolean settings also accept --name and
// --no-name; the others take one value.
var boolSettings = map[string]bool{
	"show-trace": true, "pure-eval": true, "restrict-eval": true,
	"allow-import-from-derivation": true, "read-only": true, "warn-dirty": true,
	"eval-cache": true, "keep-going": true, "print-missing": true,
	"require-sigs": true, // substitute.go
}

var valueSettings = map[string]bool{
	"max-call-depth": true, "store": true, "system": true, "eval-system": true,
	"experimental-features": true, "extra-experimental-features": true,
	"lint-absolute-path-literals": true, "lint-short-path-literals": true, "lint-url-literals": true,
	"substituters": true, "extra-substituters": true, "nix-path": true,
	"trusted-public-keys": true, "extra-trusted-public-keys": true, // substitute.go
	"narinfo-cache-positive-ttl": true, "narinfo-cache-negative-ttl": true,
	"allowed-uris": true, "max-jobs": true, "cores": true, "sandbox": true,
	"max-substitution-jobs": true, "http-connections": true, // substitute.go
}

// parseEvalFlag handles arg if it is a shared evaluation flag, consuming
// its values from s. It reports whether arg was one.
func parseEvalFlag(s *argScanner, arg string, c *EvalFlags) (bool, error) {
	switch arg {
	case "-I", "--include":
		v, err := s.value(arg)
		if err != nil {
			return true, err
		}
		c.Include = append(c.Include, v)
	case "--arg", "--argstr":
		v, err := s.values(arg, 2)
		if err != nil {
			return true, err
		}
		c.Args = append(c.Args, AutoArg{Name: v[0], Value: v[1], IsString: arg == "--argstr"})
	case "--option":
		v, err := s.values(arg, 2)
		if err != nil {
			return true, err
		}
		c.Settings = append(c.Settings, Setting{v[0], v[1]})
	case "--store":
		v, err := s.value(arg)
		if err != nil {
			return true, err
		}
		c.Settings = append(c.Settings, Setting{"store", v})
	case "--impure":
		c.Settings = append(c.Settings, Setting{"pure-eval", "false"})
	case "--cpuprofile", "--memprofile", "--compat":
		v, err := s.value(arg)
		if err != nil {
			return true, err
		}
		switch arg {
		case "--cpuprofile":
			c.CPUProfile = v
		case "--memprofile":
			c.MemProfile = v
		default:
			c.Compat = v
		}
	default:
		name, ok := strings.CutPrefix(arg, "--")
		if !ok {
			return false, nil
		}
		if boolSettings[name] {
			c.Settings = append(c.Settings, Setting{name, "true"})
			return true, nil
		}
		if n, ok := strings.CutPrefix(name, "no-"); ok && boolSettings[n] {
			c.Settings = append(c.Settings, Setting{n, "false"})
			return true, nil
		}
		if valueSettings[name] {
			v, err := s.value(arg)
			if err != nil {
				return true, err
			}
			c.Settings = append(c.Settings, Setting{name, v})
			return true, nil
		}
		return false, nil
	}
	return true, nil
}

// evalFlagOrArg handles arg in a command's default case: a shared
// evaluation flag, an unknown flag (an error) or a positional argument,
// appended to pos ("-" is positional).
func evalFlagOrArg(s *argScanner, arg string, c *EvalFlags, pos *[]string) error {
	ok, err := parseEvalFlag(s, arg, c)
	if err != nil || ok {
		return err
	}
	if len(arg) > 1 && arg[0] == '-' {
		return s.unknown(arg)
	}
	*pos = append(*pos, arg)
	return nil
}

// config is the effective configuration: NIX_CONFIG, then the command line.
type config struct {
	showTrace    bool
	maxCallDepth int
	store        string // "" if not set
	pure         bool
	system       string
	features     []string // experimental-features plus extra-experimental-features
	lints        parser.Lints
	warnings     []string
}

// parseConfig reads NIX_CONFIG-style text (name = value lines, # comments)
// into settings.
func parseConfig(text string) []Setting {
	var out []Setting
	for line := range strings.Lines(text) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, Setting{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return out
}

// resolveConfig applies NIX_CONFIG and then the command-line settings.
func resolveConfig(f *Factory, c *EvalFlags) (config, error) {
	cfg := config{}
	apply := func(st Setting, fromFlag bool) error {
		switch st.Name {
		case "show-trace":
			b, err := parseBool(st)
			if err != nil {
				return err
			}
			cfg.showTrace = b
		case "pure-eval":
			b, err := parseBool(st)
			if err != nil {
				return err
			}
			cfg.pure = b
		case "max-call-depth":
			n, err := strconv.Atoi(st.Value)
			if err != nil || n <= 0 {
				return fmt.Errorf("configuration setting '%s' should be a positive integer, got '%s'", st.Name, st.Value)
			}
			cfg.maxCallDepth = n
		case "store":
			cfg.store = st.Value
		case "system", "eval-system":
			cfg.system = st.Value
		case "experimental-features":
			cfg.features = strings.Fields(st.Value)
		case "extra-experimental-features":
			cfg.features = append(cfg.features, strings.Fields(st.Value)...)
		case "lint-absolute-path-literals", "lint-short-path-literals", "lint-url-literals":
			l, ok := parser.ParseLintLevel(st.Value)
			if !ok {
				return fmt.Errorf("configuration setting '%s' should be 'ignore', 'warn' or 'fatal', got '%s'", st.Name, st.Value)
			}
			switch st.Name {
			case "lint-absolute-path-literals":
				cfg.lints.AbsolutePathLiterals = l
			case "lint-short-path-literals":
				cfg.lints.ShortPathLiterals = l
			default:
				cfg.lints.URLLiterals = l
			}
		default:
			if fromFlag && !boolSettings[st.Name] && !valueSettings[st.Name] {
				cfg.warnings = append(cfg.warnings, fmt.Sprintf("unknown setting '%s'", st.Name))
			}
		}
		return nil
	}
	for _, st := range parseConfig(f.getenv("NIX_CONFIG")) {
		if err := apply(st, false); err != nil {
			return cfg, err
		}
	}
	for _, st := range c.Settings {
		if err := apply(st, true); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func parseBool(st Setting) (bool, error) {
	switch st.Value {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("configuration setting '%s' should be 'true' or 'false', got '%s'", st.Name, st.Value)
}
