package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"cairn/internal/compat/nar"
)

func narSubcommands() []subcommand {
	return []subcommand{
		{"cat", "print the contents of a file inside a NAR file", func(ctx context.Context, f *Factory, args []string) error {
			return newNarCatCmd(f, func(o *NarCatOptions) error { return runNarCat(ctx, o) })(args)
		}},
		{"ls", "show information about a path inside a NAR file", func(ctx context.Context, f *Factory, args []string) error {
			return newNarLsCmd(f, func(o *NarLsOptions) error { return runNarLs(ctx, o) })(args)
		}},
		{"dump-path", "serialise a path to standard output in NAR format", func(ctx context.Context, f *Factory, args []string) error {
			return newNarDumpPathCmd(f, func(o *NarDumpPathOptions) error { return runNarDumpPath(ctx, o) })(args)
		}},
		{"restore", "unpack a NAR from standard input into a new path", func(ctx context.Context, f *Factory, args []string) error {
			return newNarRestoreCmd(f, func(o *NarRestoreOptions) error { return runNarRestore(ctx, o) })(args)
		}},
	}
}

// NarCatOptions are the arguments of `cairn nar cat NAR PATH`.
type NarCatOptions struct {
	F       *Factory
	NarFile string
	Path    string
}

func newNarCatCmd(f *Factory, runF func(*NarCatOptions) error) func([]string) error {
	return func(args []string) error {
		pos, err := positionalOnly(f, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return &usageError{f.Prog, "expected a NAR file and a path inside it"}
		}
		return runF(&NarCatOptions{F: f, NarFile: pos[0], Path: pos[1]})
	}
}

// positionalOnly parses a command line of positional arguments; the
// common flags (--store, --option, ...) are accepted and ignored, as Nix
// accepts them on every command.
func positionalOnly(f *Factory, args []string) ([]string, error) {
	s := &argScanner{prog: f.Prog, args: args}
	var pos []string
	var ignored StoreFlags
	for s.more() {
		if err := storeArg(s, s.next(), &ignored, &pos); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// openNar reads and indexes the NAR file name ("-" is standard input).
func openNar(f *Factory, name string) (*narAccessor, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(f.Stdin)
	} else {
		var p string
		if p, err = f.abs(name); err == nil {
			data, err = os.ReadFile(p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading NAR file: %w", err)
	}
	acc, err := newNarAccessor(data)
	if err != nil {
		return nil, fmt.Errorf("reading NAR file '%s': %w", name, err)
	}
	return acc, nil
}

// checkNarPath rejects a relative path inside a NAR, as Nix does.
func checkNarPath(p string) error {
	if p != "" && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("not an absolute path: '%s'", p)
	}
	return nil
}

func runNarCat(ctx context.Context, o *NarCatOptions) error {
	if err := checkNarPath(o.Path); err != nil {
		return err
	}
	acc, err := openNar(o.F, o.NarFile)
	if err != nil {
		return err
	}
	return catFile(acc, o.Path, o.F.Stdout)
}

// NarLsOptions are the flags of `cairn nar ls NAR PATH`.
type NarLsOptions struct {
	F       *Factory
	Ls      LsFlags
	NarFile string
	Path    string
}

func newNarLsCmd(f *Factory, runF func(*NarLsOptions) error) func([]string) error {
	return func(args []string) error {
		o := &NarLsOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		var ignored StoreFlags
		for s.more() {
			a := s.next()
			if parseLsFlag(a, &o.Ls) {
				continue
			}
			if err := storeArg(s, a, &ignored, &pos); err != nil {
				return err
			}
		}
		if len(pos) != 2 {
			return &usageError{f.Prog, "expected a NAR file and a path inside it"}
		}
		o.NarFile, o.Path = pos[0], pos[1]
		return runF(o)
	}
}

func runNarLs(ctx context.Context, o *NarLsOptions) error {
	if err := checkNarPath(o.Path); err != nil {
		return err
	}
	acc, err := openNar(o.F, o.NarFile)
	if err != nil {
		return err
	}
	p := o.Path
	if p == "/" {
		p = ""
	}
	out := bufio.NewWriter(o.F.Stdout)
	err = list(acc, p, o.Ls, out)
	return errors.Join(err, out.Flush())
}

// NarDumpPathOptions are the arguments of `cairn nar dump-path PATH`.
type NarDumpPathOptions struct {
	F    *Factory
	Path string
}

func newNarDumpPathCmd(f *Factory, runF func(*NarDumpPathOptions) error) func([]string) error {
	return func(args []string) error {
		pos, err := positionalOnly(f, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &usageError{f.Prog, "expected exactly one path"}
		}
		return runF(&NarDumpPathOptions{F: f, Path: pos[0]})
	}
}

func runNarDumpPath(ctx context.Context, o *NarDumpPathOptions) error {
	p, err := o.F.abs(o.Path)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(o.F.Stdout, 64<<10)
	err = nar.DumpPath(out, p)
	return errors.Join(err, out.Flush())
}

// NarRestoreOptions are the arguments of `cairn nar restore DEST`.
type NarRestoreOptions struct {
	F    *Factory
	Dest string
}

func newNarRestoreCmd(f *Factory, runF func(*NarRestoreOptions) error) func([]string) error {
	return func(args []string) error {
		pos, err := positionalOnly(f, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return &usageError{f.Prog, "expected exactly one destination path"}
		}
		return runF(&NarRestoreOptions{F: f, Dest: pos[0]})
	}
}

// runNarRestore unpacks the NAR on standard input at Dest, like
// nix-store --restore; trailing data after the archive is an error.
func runNarRestore(ctx context.Context, o *NarRestoreOptions) error {
	dest, err := o.F.abs(o.Dest)
	if err != nil {
		return err
	}
	in := bufio.NewReaderSize(o.F.Stdin, 64<<10)
	if err := nar.Restore(in, dest); err != nil {
		return fmt.Errorf("restoring NAR to '%s': %w", dest, err)
	}
	if _, err := in.ReadByte(); err != io.EOF {
		return fmt.Errorf("restoring NAR to '%s': trailing data after the archive", dest)
	}
	return nil
}
