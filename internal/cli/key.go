package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"cairn/internal/compat/signature"
)

// This file holds `cairn key`: Nix's `nix key generate-secret` and
// `nix key convert-secret-to-public`, which make the ed25519 keys binary
// caches are signed with (see package compat/signature).

func keySubcommands() []subcommand {
	return []subcommand{
		{"generate-secret", "generate a secret key for signing store paths", func(ctx context.Context, f *Factory, args []string) error {
			return newKeyGenerateCmd(f, func(o *KeyOptions) error { return runKeyGenerate(o) })(args)
		}},
		{"convert-secret-to-public", "print the public key of the secret key read from standard input", func(ctx context.Context, f *Factory, args []string) error {
			return newKeyConvertCmd(f, func(o *KeyOptions) error { return runKeyConvert(o) })(args)
		}},
	}
}

// KeyOptions are the flags of the `cairn key` commands.
type KeyOptions struct {
	F       *Factory
	Store   StoreFlags // accepted and ignored, as Nix's common flags
	KeyName string     // --key-name (generate-secret)
	// Rand is the entropy source (default crypto/rand).
	Rand io.Reader
}

func newKeyGenerateCmd(f *Factory, runF func(*KeyOptions) error) func([]string) error {
	return func(args []string) error {
		o := &KeyOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			var err error
			if arg == "--key-name" {
				o.KeyName, err = s.value(arg)
			} else {
				err = storeArg(s, arg, &o.Store, &pos)
			}
			if err != nil {
				return err
			}
		}
		if len(pos) > 0 {
			return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", pos[0])}
		}
		if o.KeyName == "" {
			return &usageError{f.Prog, "required argument '--key-name' is missing"}
		}
		return runF(o)
	}
}

// runKeyGenerate prints a new secret key "name:base64", without a
// newline, as Nix does.
func runKeyGenerate(o *KeyOptions) error {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	sk, err := signature.GenerateSecretKey(o.KeyName, r)
	if err != nil {
		return err
	}
	return writeString(o.F.Stdout, sk.String())
}

func newKeyConvertCmd(f *Factory, runF func(*KeyOptions) error) func([]string) error {
	return func(args []string) error {
		o := &KeyOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			if err := storeArg(s, s.next(), &o.Store, &pos); err != nil {
				return err
			}
		}
		if len(pos) > 0 {
			return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", pos[0])}
		}
		return runF(o)
	}
}

// runKeyConvert reads a secret key from standard input and prints its
// public key, without a newline.
func runKeyConvert(o *KeyOptions) error {
	data, err := io.ReadAll(o.F.Stdin)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	sk, err := parseSecretKeyText(string(data))
	if err != nil {
		return err
	}
	return writeString(o.F.Stdout, sk.Public().String())
}

// parseSecretKeyText parses a secret key as read from a file or a pipe:
// surrounding white space (a final newline) is ignored, as Nix's base64
// decoder skips it.
func parseSecretKeyText(s string) (signature.SecretKey, error) {
	sk, err := signature.ParseSecretKey(strings.TrimSpace(s))
	if err != nil {
		return sk, fmt.Errorf("secret key is corrupt: %w", err)
	}
	return sk, nil
}
