package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// StoreVerifyOptions are the flags of `cairn store verify`.
//
// Without paths and without --all it checks the whole store as
// `nix-store --verify [--check-contents] [--repair]` does: database
// consistency, vanished paths, and (with --check-contents) NAR hashes and
// .links. With paths or --all it is Nix 2.8's `nix store verify`: each
// path's contents are re-hashed (unless --no-contents) and its trust is
// checked (unless --no-trust); the exit status is 1 for corrupt, 2 for
// untrusted and 4 for failed paths, or-ed.
type StoreVerifyOptions struct {
	F     *Factory
	Store StoreFlags

	CheckContents bool
	Repair        bool
	All           bool
	NoContents    bool
	NoTrust       bool
	SigsNeeded    int
	Paths         []string
}

func newStoreVerifyCmd(f *Factory, runF func(*StoreVerifyOptions) error) func([]string) error {
	return func(args []string) error {
		o := &StoreVerifyOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--check-contents":
				o.CheckContents = true
			case "--repair":
				o.Repair = true
			case "--all":
				o.All = true
			case "--no-contents":
				o.NoContents = true
			case "--no-trust":
				o.NoTrust = true
			case "--sigs-needed", "-n":
				var v string
				if v, err = s.value(arg); err == nil {
					if o.SigsNeeded, err = strconv.Atoi(v); err != nil || o.SigsNeeded < 0 {
						err = &usageError{f.Prog, fmt.Sprintf("flag '%s' requires a non-negative integer, got '%s'", arg, v)}
					}
				}
			default:
				err = storeArg(s, arg, &o.Store, &o.Paths)
			}
			if err != nil {
				return err
			}
		}
		if o.All && len(o.Paths) > 0 {
			return &usageError{f.Prog, "'--all' does not expect arguments"}
		}
		return runF(o)
	}
}

func runStoreVerify(ctx context.Context, o *StoreVerifyOptions) error {
	if !o.All && len(o.Paths) == 0 {
		return verifyWholeStore(ctx, o)
	}
	keys, err := trustedKeys(o.F, &o.Store)
	if err != nil {
		return err
	}
	var code int
	err = withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		var paths []string
		if o.All {
			all, err := st.QueryValidPaths(ctx)
			if err != nil {
				return err
			}
			for _, p := range all {
				paths = append(paths, st.Dir().Print(p))
			}
		} else {
			paths = o.Paths
		}
		errw := o.F.Stderr
		for _, a := range paths {
			p, err := storePathArg(o.F, st.Dir(), a)
			if err == nil {
				err = verifyPath(ctx, st, p, o, keys, &code)
			}
			if err != nil {
				fmt.Fprintf(errw, "error: %s\n", err)
				code |= 4
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code}
	}
	return nil
}

func verifyPath(ctx context.Context, st *local.Store, p storepath.Path, o *StoreVerifyOptions, keys map[string]ed25519.PublicKey, code *int) error {
	info, err := st.QueryPathInfo(ctx, p)
	if err != nil {
		return err
	}
	ps := st.Dir().Print(p)
	if o.Repair {
		return fmt.Errorf("repairing '%s' needs a substituter, which cairn does not have yet", ps)
	}
	if !o.NoContents {
		h := nixhash.NewHasher(info.NarHash.Algo)
		if err := st.NarFromPath(ctx, p, h); err != nil {
			return err
		}
		if got := h.Sum(); !got.Equal(info.NarHash) {
			*code |= 1
			fmt.Fprintf(o.F.Stderr, "error: path '%s' was modified! expected hash '%s', got '%s'\n",
				ps, info.NarHash.Encode(nixhash.Nix32, true), got.Encode(nixhash.Nix32, true))
		}
	}
	if !o.NoTrust && !trusted(st, info, keys, o.SigsNeeded) {
		*code |= 2
		fmt.Fprintf(o.F.Stderr, "error: path '%s' is untrusted\n", ps)
	}
	return nil
}

// trusted reports whether info is ultimately trusted (built here), content
// addressed, or carries enough valid signatures by keys.
func trusted(st *local.Store, info *store.PathInfo, keys map[string]ed25519.PublicKey, needed int) bool {
	if info.Ultimate && needed == 0 {
		return true
	}
	if info.HasCA() && info.CheckCA(st.Dir()) == nil {
		return true
	}
	want := max(needed, 1)
	fp := fingerprint(st, info)
	valid := 0
	seen := map[string]bool{}
	for _, sig := range info.Signatures {
		if seen[sig] {
			continue
		}
		seen[sig] = true
		name, b64, ok := strings.Cut(sig, ":")
		if !ok {
			continue
		}
		key, ok := keys[name]
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != ed25519.SignatureSize {
			continue
		}
		if ed25519.Verify(key, []byte(fp), raw) {
			valid++
		}
	}
	return valid >= want
}

// fingerprint is what a path's signatures sign: "1;<path>;<narHash in
// nix32>;<narSize>;<references, comma-separated>".
func fingerprint(st *local.Store, info *store.PathInfo) string {
	refs := make([]string, len(info.References))
	for i, r := range info.References {
		refs[i] = st.Dir().Print(r)
	}
	return "1;" + st.Dir().Print(info.Path) + ";" + info.NarHash.Encode(nixhash.Nix32, true) + ";" +
		strconv.FormatUint(info.NarSize, 10) + ";" + strings.Join(refs, ",")
}

// defaultTrustedKey is Nix's default trusted-public-keys.
const defaultTrustedKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

// trustedKeys reads trusted-public-keys (and extra-trusted-public-keys)
// from NIX_CONFIG and --option.
func trustedKeys(f *Factory, c *StoreFlags) (map[string]ed25519.PublicKey, error) {
	list := []string{defaultTrustedKey}
	var extra []string
	settings := append(parseConfig(f.getenv("NIX_CONFIG")), c.Settings...)
	for _, s := range settings {
		switch s.Name {
		case "trusted-public-keys":
			list = strings.Fields(s.Value)
		case "extra-trusted-public-keys":
			extra = append(extra, strings.Fields(s.Value)...)
		}
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range append(list, extra...) {
		name, b64, ok := strings.Cut(k, ":")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || name == "" || err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key '%s' is corrupt", k)
		}
		keys[name] = ed25519.PublicKey(raw)
	}
	return keys, nil
}

// verifyWholeStore is nix-store --verify.
func verifyWholeStore(ctx context.Context, o *StoreVerifyOptions) error {
	var ok bool
	err := withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		w := o.F.Stderr
		fmt.Fprintln(w, "reading the Nix store...")
		if o.CheckContents {
			fmt.Fprintln(w, "checking path existence...")
			fmt.Fprintln(w, "checking link hashes...")
			fmt.Fprintln(w, "checking store hashes...")
		} else {
			fmt.Fprintln(w, "checking path existence...")
		}
		res, err := st.Verify(ctx, local.VerifyOptions{CheckContents: o.CheckContents, Repair: o.Repair})
		if err != nil {
			return err
		}
		for _, p := range res.Invalidated {
			fmt.Fprintf(w, "path '%s' disappeared, removing from database...\n", st.Dir().Print(p))
		}
		for _, p := range res.Missing {
			fmt.Fprintf(w, "error: path '%s' disappeared, but it still has valid referrers!\n", st.Dir().Print(p))
		}
		for _, c := range res.Corrupt {
			fmt.Fprintf(w, "error: path '%s' was modified! expected hash '%s', got '%s'\n",
				st.Dir().Print(c.Path), c.WantHash.Encode(nixhash.Nix32, true), c.GotHash.Encode(nixhash.Nix32, true))
		}
		for _, l := range res.CorruptLinks {
			fmt.Fprintf(w, "error: link '%s' was modified!\n", l)
		}
		for _, l := range res.RemovedLinks {
			fmt.Fprintf(w, "removed corrupt link '%s'\n", l)
		}
		ok = res.OK()
		return nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return &exitError{1}
	}
	return nil
}
