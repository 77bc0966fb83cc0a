package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/glue"
	"cairn/internal/store/local"
)

// This file holds what the store commands share: command groups
// ("cairn store ls"), opening the store named by --store / NIX_REMOTE,
// turning arguments into store paths, and Nix's JSON string escaping.

// subcommand is one entry of a command group such as "cairn store".
type subcommand struct {
	name, short string
	run         func(ctx context.Context, f *Factory, args []string) error
}

// runGroup dispatches args[0] among subs; group names the group in
// messages ("store").
func runGroup(ctx context.Context, f *Factory, group string, subs []subcommand, args []string) error {
	// Common flags may come before the subcommand name (cairn store
	// --store /r ls ...): move them after it.
	var lead []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		sc := &argScanner{prog: f.Prog, args: args}
		var ignored StoreFlags
		if ok, err := parseEvalFlag(sc, sc.next(), &ignored); err != nil || !ok {
			break
		}
		lead = append(lead, args[:sc.i]...)
		args = args[sc.i:]
	}
	if len(args) > 0 && len(lead) > 0 {
		args = append(append([]string{args[0]}, args[1:]...), lead...)
	}
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		w := f.Stdout
		if len(args) == 0 {
			w = f.Stderr
		}
		fmt.Fprintf(w, "usage: cairn %s <command> [arguments]\n\ncommands:\n", group)
		for _, c := range subs {
			fmt.Fprintf(w, "  %-12s %s\n", c.name, c.short)
		}
		if len(args) == 0 {
			return &usageError{f.Prog, fmt.Sprintf("'cairn %s' requires a sub-command", group)}
		}
		return nil
	}
	for _, c := range subs {
		if c.name == args[0] {
			f.Prog = "cairn " + group + " " + c.name
			if slices.Contains(args[1:], "--help") {
				return printUsage(f, group+" "+c.name, c.short)
			}
			return c.run(ctx, f, args[1:])
		}
	}
	return &usageError{f.Prog, fmt.Sprintf("'%s' is not a recognised command", args[0])}
}

// usages returns the synopses `--help` prints, by command.
func usages() map[string]string {
	return map[string]string{
		"store add":           "[--mode flat|nar|text] [--name N] [--hash-algo A] [--dry-run] PATH...",
		"store add-path":      "[--name N] [--dry-run] PATH...",
		"store add-file":      "[--name N] [--dry-run] FILE...",
		"store cat":           "STOREPATH/FILE",
		"store ls":            "[-R] [-l] [-d] [--json] STOREPATH[/SUB]",
		"store dump-path":     "STOREPATH...",
		"store delete":        "[--ignore-liveness] STOREPATH...",
		"store gc":            "[--dry-run] [--max BYTES]",
		"store optimise":      "",
		"store diff-closures": "[--json] BEFORE AFTER",
		"store verify":        "[--check-contents] [--repair] | [--no-contents] [--no-trust] [--sigs-needed N] (--all | STOREPATH...)",
		"nar cat":             "NARFILE PATH",
		"nar ls":              "[-R] [-l] [-d] [--json] NARFILE PATH",
		"nar dump-path":       "PATH",
		"nar restore":         "DEST < NARFILE",
		"hash path":           "[--type ALGO] [--base16|--base32|--base64|--sri] PATH...",
		"hash file":           "[--type ALGO] [--base16|--base32|--base64|--sri] FILE...",
		"hash convert":        "[--hash-algo ALGO] [--from FORMAT] [--to base16|nix32|base64|sri] HASH...",
		"hash to-base16":      "[--type ALGO] HASH...",
		"hash to-base32":      "[--type ALGO] HASH...",
		"hash to-base64":      "[--type ALGO] HASH...",
		"hash to-sri":         "[--type ALGO] HASH...",
		"derivation show":     "[-r] DRVPATH...",
		"show-derivation":     "[-r] DRVPATH...",
		"path-info":           "[--json] [-r] [-s] [-S] [-h] [--sigs] (--all | STOREPATH...)",
		"why-depends":         "[--all] [--precise] PACKAGE DEPENDENCY",

		// Binary caches (copy.go, serve.go, key.go, sign.go).
		"store sign":                   "--key-file FILE [-r] STOREPATH...",
		"key generate-secret":          "--key-name NAME",
		"key convert-secret-to-public": "< SECRETKEY",
		"copy":                         "(--from URL | --to URL) [--no-check-sigs] [--derivation] STOREPATH...",
		"serve":                        "[--listen ADDR] [--sign-key FILE] [--priority N] [--compression none|zstd]",
	}
}

// printUsage prints the synopsis of command to standard output.
func printUsage(f *Factory, command, short string) error {
	_, err := fmt.Fprintf(f.Stdout, "Usage: cairn %s %s\n\n%s.\nEvery command also takes --store URL and --option NAME VALUE.\n", command, usages()[command], strings.ToUpper(short[:1])+short[1:])
	return err
}

// withHelp wraps the run function of a top-level command so that --help
// prints its synopsis.
func withHelp(name, short string, run func(ctx context.Context, f *Factory, args []string) error) command {
	return command{name, short, func(ctx context.Context, f *Factory, args []string) error {
		if slices.Contains(args, "--help") {
			return printUsage(f, name, short)
		}
		return run(ctx, f, args)
	}}
}

// StoreFlags are the flags every store command accepts: --store URL,
// --option NAME VALUE and the settings flags (the evaluation flags are
// accepted and ignored, as Nix's commands share them).
type StoreFlags = EvalFlags

// storeArg handles arg in a store command's default case: a common flag,
// an unknown flag (an error) or a positional argument appended to pos.
func storeArg(s *argScanner, arg string, c *StoreFlags, pos *[]string) error {
	return evalFlagOrArg(s, arg, c, pos)
}

// openStore opens the local store selected by --store (or --option
// store), else NIX_REMOTE, else the system store. NIX_STORE_DIR sets the
// logical store directory.
func openStore(ctx context.Context, f *Factory, c *StoreFlags) (*local.Store, error) {
	cfg, err := resolveConfig(f, c)
	if err != nil {
		return nil, err
	}
	spec := cfg.store
	if spec == "" {
		spec = f.getenv("NIX_REMOTE")
	}
	if strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../") {
		if spec, err = f.abs(spec); err != nil {
			return nil, err
		}
	}
	u, err := glue.ParseStoreURL(spec)
	if err != nil {
		return nil, err
	}
	open := u.Opener()
	if open == nil {
		return nil, fmt.Errorf("store '%s' holds no paths; use a local store (--store /some/dir or local?root=/some/dir)", spec)
	}
	if d := f.getenv("NIX_STORE_DIR"); d != "" {
		// Opener knows only the root; open by hand for another store dir.
		return local.Open(ctx, local.Options{Root: u.Root, StoreDir: storepath.Dir(strings.TrimRight(d, "/"))})
	}
	return open(ctx)
}

// withStore opens the store, runs fn with a buffered standard output and
// closes both.
func withStore(ctx context.Context, f *Factory, c *StoreFlags, fn func(st *local.Store, out *bufio.Writer) error) (err error) {
	st, err := openStore(ctx, f, c)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(f.Stdout)
	defer func() {
		ferr, cerr := out.Flush(), st.Close()
		err = errors.Join(err, ferr, cerr)
	}()
	return fn(st, out)
}

// storeSubPath resolves arg (an absolute or relative file name, possibly
// a symlink such as ./result) to a store path and the part below it
// ("/bin/sh", or "" for the store path itself), as Nix's
// followLinksToStorePath does.
func storeSubPath(f *Factory, dir storepath.Dir, arg string) (storepath.Path, string, error) {
	abs, err := f.abs(arg)
	if err != nil {
		return storepath.Path{}, "", err
	}
	if inStoreDir(dir, abs) {
		return dir.ParseSub(abs)
	}
	// Outside the store: follow symlinks (./result -> /nix/store/...),
	// which need not resolve on the host (a chroot store).
	if target, ok := linkIntoStore(dir, abs); ok {
		return dir.ParseSub(target)
	}
	return storepath.Path{}, "", fmt.Errorf("path '%s' is not in the Nix store", abs)
}

// linkIntoStore follows the symlinks among the components of abs until
// the path leads into dir.
func linkIntoStore(dir storepath.Dir, abs string) (string, bool) {
	for range 40 {
		parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
		followed := false
		for i := range parts {
			prefix := "/" + strings.Join(parts[:i+1], "/")
			target, err := os.Readlink(prefix)
			if err != nil {
				continue
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(prefix), target)
			}
			abs = filepath.Join(append([]string{target}, parts[i+1:]...)...)
			followed = true
			break
		}
		if inStoreDir(dir, abs) {
			return abs, true
		}
		if !followed {
			return "", false
		}
	}
	return "", false
}

func inStoreDir(dir storepath.Dir, abs string) bool {
	return strings.HasPrefix(abs, string(dir)+"/")
}

// storePathArg is storeSubPath for an argument that must name a store
// path itself.
func storePathArg(f *Factory, dir storepath.Dir, arg string) (storepath.Path, error) {
	p, rest, err := storeSubPath(f, dir, arg)
	if err != nil {
		return p, err
	}
	if rest != "" && rest != "/" {
		return p, fmt.Errorf("path '%s' is not a store path", dir.Print(p)+rest)
	}
	return p, nil
}

// validStorePaths parses args as store paths that must be valid in st.
func validStorePaths(ctx context.Context, f *Factory, st *local.Store, args []string) ([]storepath.Path, error) {
	var out []storepath.Path
	for _, a := range args {
		p, err := storePathArg(f, st.Dir(), a)
		if err != nil {
			return nil, err
		}
		ok, err := st.IsValid(ctx, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("path '%s' is not valid", st.Dir().Print(p))
		}
		out = append(out, p)
	}
	return out, nil
}

// jsonString appends s to b escaped as Nix 2.8's toJSON does: only '"',
// '\\' and control characters are escaped; other bytes are copied.
func jsonString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeString writes s to w, for outputs that end without a newline.
func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// storeCommands are the store commands' entries of the command table.
func storeCommands() []command {
	group := func(name string, subs func() []subcommand) func(ctx context.Context, f *Factory, args []string) error {
		return func(ctx context.Context, f *Factory, args []string) error {
			return runGroup(ctx, f, name, subs(), args)
		}
	}
	return []command{
		{"store", "manipulate the store: add, cat, ls, dump-path, delete, gc, optimise, verify", group("store", storeSubcommands)},
		{"nar", "read and write NAR files: cat, ls, dump-path, restore", group("nar", narSubcommands)},
		{"hash", "compute and convert hashes: path, file, convert, to-base16/32/64, to-sri", group("hash", hashSubcommands)},
		withHelp("path-info", "query information about store paths, like nix path-info", func(ctx context.Context, f *Factory, args []string) error {
			return newPathInfoCmd(f, func(o *PathInfoOptions) error { return runPathInfo(ctx, o) })(args)
		}),
		{"derivation", "work with derivations: show", group("derivation", derivationSubcommands)},
		withHelp("show-derivation", "show store derivations as JSON, like nix show-derivation", func(ctx context.Context, f *Factory, args []string) error {
			return newDerivationShowCmd(f, func(o *DerivationShowOptions) error { return runDerivationShow(ctx, o) })(args)
		}),
		withHelp("why-depends", "show why a store path has another in its closure, like nix why-depends", func(ctx context.Context, f *Factory, args []string) error {
			return newWhyDependsCmd(f, func(o *WhyDependsOptions) error { return runWhyDepends(ctx, o) })(args)
		}),
	}
}
