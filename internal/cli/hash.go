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
	"cairn/internal/compat/nixhash"
)

func hashSubcommands() []subcommand {
	sub := []subcommand{
		{"path", "print the hash of the NAR serialisation of a path", func(ctx context.Context, f *Factory, args []string) error {
			return newHashCmd(f, true, func(o *HashOptions) error { return runHash(ctx, o) })(args)
		}},
		{"file", "print the hash of a regular file", func(ctx context.Context, f *Factory, args []string) error {
			return newHashCmd(f, false, func(o *HashOptions) error { return runHash(ctx, o) })(args)
		}},
		{"convert", "convert hashes between encodings (nix hash convert)", func(ctx context.Context, f *Factory, args []string) error {
			return newHashConvertCmd(f, "", func(o *HashConvertOptions) error { return runHashConvert(ctx, o) })(args)
		}},
	}
	for _, to := range []string{"base16", "base32", "base64", "sri"} {
		sub = append(sub, subcommand{"to-" + to, "convert a hash to " + to + " (Nix 2.8)", func(ctx context.Context, f *Factory, args []string) error {
			return newHashConvertCmd(f, to, func(o *HashConvertOptions) error { return runHashConvert(ctx, o) })(args)
		}})
	}
	return sub
}

// HashOptions are the flags of `cairn hash path|file`.
type HashOptions struct {
	F         *Factory
	Recursive bool // path (NAR) rather than file (flat)
	Algo      string
	Encoding  nixhash.Encoding
	Paths     []string
}

func newHashCmd(f *Factory, recursive bool, runF func(*HashOptions) error) func([]string) error {
	return func(args []string) error {
		o := &HashOptions{F: f, Recursive: recursive, Algo: "sha256", Encoding: nixhash.SRI}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--type", "--algo":
				o.Algo, err = s.value(arg)
			case "--base16":
				o.Encoding = nixhash.Base16
			case "--base32", "--nix32":
				o.Encoding = nixhash.Nix32
			case "--base64":
				o.Encoding = nixhash.Base64
			case "--sri":
				o.Encoding = nixhash.SRI
			default:
				var ignored StoreFlags
				err = storeArg(s, arg, &ignored, &o.Paths)
			}
			if err != nil {
				return err
			}
		}
		if _, err := nixhash.ParseAlgo(o.Algo); err != nil {
			return &usageError{f.Prog, fmt.Sprintf("unknown hash algorithm '%s'", o.Algo)}
		}
		return runF(o)
	}
}

func runHash(ctx context.Context, o *HashOptions) error {
	algo, err := nixhash.ParseAlgo(o.Algo)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(o.F.Stdout)
	for _, a := range o.Paths {
		p, err := o.F.abs(a)
		if err != nil {
			return err
		}
		h := nixhash.NewHasher(algo)
		if o.Recursive {
			err = nar.DumpPath(h, p)
		} else {
			err = hashFile(h, p)
		}
		if err != nil {
			return errors.Join(err, out.Flush())
		}
		fmt.Fprintln(out, h.Sum().Encode(o.Encoding, o.Encoding == nixhash.SRI))
	}
	return out.Flush()
}

func hashFile(w io.Writer, p string) error {
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = io.Copy(w, fh)
	return err
}

// HashConvertOptions are the flags of `cairn hash convert` and of Nix
// 2.8's `hash to-base16|to-base32|to-base64|to-sri`.
type HashConvertOptions struct {
	F      *Factory
	Algo   string // --hash-algo (--type); "" if the hashes name it
	From   string // --from: the expected input encoding, "" for any
	To     string // --to (default sri)
	Hashes []string
}

func newHashConvertCmd(f *Factory, to string, runF func(*HashConvertOptions) error) func([]string) error {
	return func(args []string) error {
		o := &HashConvertOptions{F: f, To: "sri"}
		if to != "" {
			o.To = to
		}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch {
			case arg == "--type" || arg == "--hash-algo" || arg == "--algo":
				o.Algo, err = s.value(arg)
			case to == "" && arg == "--from":
				o.From, err = s.value(arg)
			case to == "" && arg == "--to":
				o.To, err = s.value(arg)
			default:
				var ignored StoreFlags
				err = storeArg(s, arg, &ignored, &o.Hashes)
			}
			if err != nil {
				return err
			}
		}
		if o.Algo != "" {
			if _, err := nixhash.ParseAlgo(o.Algo); err != nil {
				return &usageError{f.Prog, fmt.Sprintf("unknown hash algorithm '%s'", o.Algo)}
			}
		}
		for _, e := range []string{o.From, o.To} {
			if e == "" {
				continue
			}
			if _, err := nixhash.ParseEncoding(e); err != nil {
				return &usageError{f.Prog, fmt.Sprintf("unknown hash format '%s' (want base16, nix32, base64 or sri)", e)}
			}
		}
		return runF(o)
	}
}

func runHashConvert(ctx context.Context, o *HashConvertOptions) error {
	var algo nixhash.Algo
	if o.Algo != "" {
		var err error
		if algo, err = nixhash.ParseAlgo(o.Algo); err != nil {
			return err
		}
	}
	to, err := nixhash.ParseEncoding(o.To)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(o.F.Stdout)
	for _, s := range o.Hashes {
		h, err := nixhash.ParseAny(s, algo)
		if err == nil && o.From != "" {
			err = checkHashFormat(s, h.Algo, o.From)
		}
		if err != nil {
			return errors.Join(err, out.Flush())
		}
		fmt.Fprintln(out, h.Encode(to, to == nixhash.SRI))
	}
	return out.Flush()
}

// checkHashFormat reports an error unless s, a hash of algo, is written in
// encoding from.
func checkHashFormat(s string, algo nixhash.Algo, from string) error {
	want, err := nixhash.ParseEncoding(from)
	if err != nil {
		return err
	}
	got := nixhash.SRI
	if _, err := nixhash.ParseSRI(s); err != nil {
		rest := s
		if _, r, ok := strings.Cut(s, ":"); ok {
			rest = r
		}
		for _, e := range []nixhash.Encoding{nixhash.Base16, nixhash.Nix32, nixhash.Base64} {
			if len(rest) == e.EncodedLen(algo) {
				got = e
				break
			}
		}
	}
	if got != want {
		return fmt.Errorf("hash '%s' is in %s, not %s", s, got, want)
	}
	return nil
}
