// Package narinfo reads and writes .narinfo files, the per-path metadata
// of a Nix binary cache (<hashpart>.narinfo).
//
// A narinfo is a sequence of "Key: value\n" lines. Nix 2.8 writes them in
// this order (src/libstore/nar-info.cc):
//
//	StorePath: /nix/store/<hash>-<name>
//	URL: nar/<nix32 file hash>.nar.xz
//	Compression: xz
//	FileHash: sha256:<nix32>
//	FileSize: <decimal>
//	NarHash: sha256:<nix32>
//	NarSize: <decimal>
//	References: <basename> <basename> ...   (sorted; "References: " if none)
//	Deriver: <basename>                      (if known)
//	System: <system>                         (rarely)
//	Sig: <key name>:<base64>                 (one line each, sorted)
//	CA: <content address>                    (if content addressed)
//
// Parse follows Nix's reader: a value starts two bytes after the first
// colon, every line ends in '\n', unknown keys are ignored, a missing
// Compression means bzip2, "Deriver: unknown-deriver" means none, and
// StorePath, NarHash, URL and a non-zero NarSize are required. It is
// stricter where that cannot reject a narinfo Nix writes: single-valued
// keys may appear only once, numbers are plain decimal, and store paths,
// hashes, signatures and content addresses must parse.
package narinfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
)

// MaxSize bounds the size of a narinfo Parse accepts.
const MaxSize = 1 << 20

// ErrCorrupt is matched by every parse error.
var ErrCorrupt = errors.New("corrupt narinfo")

// Error is a parse error at a line (0 if the narinfo as a whole is at
// fault).
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "narinfo: " + e.Msg
	}
	return fmt.Sprintf("narinfo:%d: %s", e.Line, e.Msg)
}

func (e *Error) Is(target error) bool { return target == ErrCorrupt }

// NarInfo is the content of a .narinfo file.
type NarInfo struct {
	// StoreDir is the store directory of StorePath, References and
	// Deriver (taken from the StorePath line).
	StoreDir    storepath.Dir
	StorePath   storepath.Path
	URL         string
	Compression string       // "none", "xz", "bzip2", "zstd", ...
	FileHash    nixhash.Hash // of the (compressed) file; zero if absent
	FileSize    uint64       // 0 if absent
	NarHash     nixhash.Hash
	NarSize     uint64
	References  []storepath.Path // sorted, no duplicates
	Deriver     storepath.Path   // zero if unknown
	System      string
	Sigs        []string // "<key name>:<base64>", sorted, no duplicates
	CA          storepath.ContentAddress
}

// HasCA reports whether the narinfo carries a content address.
func (ni *NarInfo) HasCA() bool { return !ni.CA.Hash.IsZero() }

// Parse reads a narinfo.
func Parse(r io.Reader) (*NarInfo, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read narinfo: %w", err)
	}
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	return parse(data)
}

func parse(data []byte) (*NarInfo, error) {
	ni := &NarInfo{}
	seen := map[string]int{}
	var refs []string
	var deriver string
	line := 0
	for len(data) > 0 {
		line++
		bad := func(format string, args ...any) error {
			return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
		}
		eol := bytes.IndexByte(data, '\n')
		if eol < 0 {
			return nil, bad("line does not end in a newline")
		}
		text := string(data[:eol])
		data = data[eol+1:]
		name, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, bad("expecting ':'")
		}
		if !strings.HasPrefix(value, " ") {
			return nil, bad("expecting a space after '%s:'", name)
		}
		value = value[1:]
		switch name {
		case "StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize",
			"References", "Deriver", "System", "CA":
			if prev, dup := seen[name]; dup {
				return nil, bad("duplicate %s (first on line %d)", name, prev)
			}
			seen[name] = line
		}
		switch name {
		case "StorePath":
			i := strings.LastIndexByte(value, '/')
			if i <= 0 {
				return nil, bad("StorePath '%s' is not an absolute store path", value)
			}
			ni.StoreDir = storepath.Dir(value[:i])
			p, err := storepath.ParseBase(value[i+1:])
			if err != nil {
				return nil, bad("StorePath: %v", err)
			}
			ni.StorePath = p
		case "URL":
			if value == "" {
				return nil, bad("empty URL")
			}
			ni.URL = value
		case "Compression":
			ni.Compression = value // "" becomes bzip2 below, as in Nix
		case "FileHash", "NarHash":
			h, err := nixhash.Parse(value)
			if err != nil {
				return nil, bad("%s: %v", name, err)
			}
			if name == "FileHash" {
				ni.FileHash = h
			} else {
				ni.NarHash = h
			}
		case "FileSize", "NarSize":
			n, err := parseUint(value)
			if err != nil {
				return nil, bad("%s: %v", name, err)
			}
			if name == "FileSize" {
				ni.FileSize = n
			} else {
				ni.NarSize = n
			}
		case "References":
			refs = strings.Fields(value)
			if strings.Join(refs, " ") != value {
				return nil, bad("References must be separated by single spaces")
			}
		case "Deriver":
			if value != "unknown-deriver" {
				deriver = value
			}
		case "System":
			ni.System = value
		case "Sig":
			if _, err := signature.ParseSignature(value); err != nil {
				return nil, bad("Sig: %v", err)
			}
			ni.Sigs = append(ni.Sigs, value)
		case "CA":
			ca, err := storepath.ParseContentAddress(value)
			if err != nil {
				return nil, bad("CA: %v", err)
			}
			ni.CA = ca
		}
	}
	missing := func(msg string) error { return &Error{Msg: msg} }
	switch {
	case ni.StorePath.IsZero():
		return nil, missing("StorePath missing")
	case ni.NarHash.IsZero():
		return nil, missing("NarHash missing")
	case ni.URL == "":
		return nil, missing("URL missing")
	case ni.NarSize == 0:
		return nil, missing("NarSize missing or zero")
	}
	if ni.Compression == "" {
		ni.Compression = "bzip2"
	}
	for _, r := range refs {
		p, err := storepath.ParseBase(r)
		if err != nil {
			return nil, &Error{Line: seen["References"], Msg: fmt.Sprintf("References: %v", err)}
		}
		ni.References = append(ni.References, p)
	}
	slices.SortFunc(ni.References, storepath.Compare)
	ni.References = slices.Compact(ni.References)
	if deriver != "" {
		p, err := storepath.ParseBase(deriver)
		if err != nil {
			return nil, &Error{Line: seen["Deriver"], Msg: fmt.Sprintf("Deriver: %v", err)}
		}
		ni.Deriver = p
	}
	slices.Sort(ni.Sigs)
	ni.Sigs = slices.Compact(ni.Sigs)
	return ni, nil
}

// parseUint parses a plain decimal number (no sign, no leading zeros).
func parseUint(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("invalid number '%s'", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number '%s'", s)
	}
	return n, nil
}

// String returns the narinfo as Nix 2.8 writes it. FileHash and FileSize
// are written only when FileHash is set (Nix always has them; nix-serve
// style narinfos omit both). Hashes are written as sha256:<nix32>
// whatever form they were read in.
func (ni *NarInfo) String() string {
	var b strings.Builder
	b.WriteString("StorePath: " + ni.StoreDir.Print(ni.StorePath) + "\n")
	b.WriteString("URL: " + ni.URL + "\n")
	b.WriteString("Compression: " + ni.Compression + "\n")
	if !ni.FileHash.IsZero() {
		b.WriteString("FileHash: " + ni.FileHash.Encode(nixhash.Nix32, true) + "\n")
		b.WriteString("FileSize: " + strconv.FormatUint(ni.FileSize, 10) + "\n")
	}
	b.WriteString("NarHash: " + ni.NarHash.Encode(nixhash.Nix32, true) + "\n")
	b.WriteString("NarSize: " + strconv.FormatUint(ni.NarSize, 10) + "\n")
	refs := make([]string, len(ni.References))
	for i, r := range ni.References {
		refs[i] = r.Base()
	}
	slices.Sort(refs)
	b.WriteString("References: " + strings.Join(refs, " ") + "\n")
	if !ni.Deriver.IsZero() {
		b.WriteString("Deriver: " + ni.Deriver.Base() + "\n")
	}
	if ni.System != "" {
		b.WriteString("System: " + ni.System + "\n")
	}
	sigs := slices.Clone(ni.Sigs)
	slices.Sort(sigs)
	for _, s := range slices.Compact(sigs) {
		b.WriteString("Sig: " + s + "\n")
	}
	if ni.HasCA() {
		b.WriteString("CA: " + ni.CA.String() + "\n")
	}
	return b.String()
}

// Fingerprint returns the string signed for this path (see package
// signature).
func (ni *NarInfo) Fingerprint() (string, error) {
	return signature.Fingerprint(ni.StoreDir, ni.StorePath, ni.NarHash, ni.NarSize, ni.References)
}

// Sign adds k's signature of the path to Sigs (replacing none).
func (ni *NarInfo) Sign(k signature.SecretKey) error {
	fp, err := ni.Fingerprint()
	if err != nil {
		return err
	}
	s := k.Sign([]byte(fp)).String()
	if !slices.Contains(ni.Sigs, s) {
		ni.Sigs = append(ni.Sigs, s)
		slices.Sort(ni.Sigs)
	}
	return nil
}

// CountValidSigs returns how many Sigs are valid signatures of the path
// by keys in trusted.
func (ni *NarInfo) CountValidSigs(trusted signature.TrustedKeys) int {
	fp, err := ni.Fingerprint()
	if err != nil {
		return 0
	}
	return trusted.CountValid([]byte(fp), ni.Sigs)
}
