package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"

	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// StoreSignOptions are the flags of `cairn store sign` (Nix's `nix store
// sign`).
type StoreSignOptions struct {
	F     *Factory
	Store StoreFlags

	KeyFile   string // -k / --key-file
	Recursive bool   // -r / --recursive: the closures of the paths
	Paths     []string
}

func newStoreSignCmd(f *Factory, runF func(*StoreSignOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreSignOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "-k", "--key-file":
				o.KeyFile, err = s.value(arg)
			case "-r", "--recursive":
				o.Recursive = true
			default:
				err = storeArg(s, arg, &o.Store, &o.Paths)
			}
			if err != nil {
				return err
			}
		}
		if o.KeyFile == "" {
			return &usageError{f.Prog, "required argument '--key-file' is missing"}
		}
		return runF(o)
	}
}

// readSecretKeyFile reads a secret key file (nix-store
// --generate-binary-cache-key's format).
func readSecretKeyFile(f *Factory, name string) (signature.SecretKey, error) {
	p, err := f.abs(name)
	if err != nil {
		return signature.SecretKey{}, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return signature.SecretKey{}, fmt.Errorf("reading secret key: %w", err)
	}
	return parseSecretKeyText(string(data))
}

// runStoreSign signs the paths with the key and adds the signatures that
// are new, then says how many, as Nix does.
func runStoreSign(ctx context.Context, o *StoreSignOptions) error {
	sk, err := readSecretKeyFile(o.F, o.KeyFile)
	if err != nil {
		return err
	}
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		paths, err := validStorePaths(ctx, o.F, st, o.Paths)
		if err != nil {
			return err
		}
		if o.Recursive {
			if paths, err = store.Closure(ctx, st, paths, store.ClosureOptions{}); err != nil {
				return err
			}
		}
		added, err := signPaths(ctx, st, sk, paths)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.F.Stderr, "added %d signatures\n", added)
		return err
	})
}

// signPaths adds sk's signature to each path that lacks it and returns
// how many it added.
func signPaths(ctx context.Context, st *local.Store, sk signature.SecretKey, paths []storepath.Path) (int, error) {
	added := 0
	for _, p := range paths {
		info, err := st.QueryPathInfo(ctx, p)
		if err != nil {
			return added, err
		}
		fp, err := signature.Fingerprint(st.Dir(), info.Path, info.NarHash, info.NarSize, info.References)
		if err != nil {
			return added, err
		}
		sig := sk.Sign([]byte(fp)).String()
		if slices.Contains(info.Signatures, sig) {
			continue
		}
		if err := st.AddSignatures(ctx, p, []string{sig}); err != nil {
			return added, err
		}
		added++
	}
	return added, nil
}
