package narinfo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/signature"
)

// The fixtures were written by Nix 2.8 (testdata/gen.sh).
func TestNixFixturesRoundTrip(t *testing.T) {
	pub, err := os.ReadFile("testdata/key.pub")
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := signature.ParseTrustedKeys(string(pub))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.narinfo")
	if len(files) < 16 {
		t.Fatalf("only %d fixtures", len(files))
	}
	derivers := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ni, err := Parse(strings.NewReader(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			if got := ni.String(); got != string(data) {
				t.Errorf("String() differs from Nix's file:\n got %q\nwant %q", got, data)
			}
			if n := ni.CountValidSigs(trusted); n != 1 {
				t.Errorf("%d valid signatures, want 1", n)
			}
			if !ni.Deriver.IsZero() && !ni.HasCA() {
				derivers++
			}
			if !strings.HasPrefix(filepath.Base(f), ni.Compression+"-") {
				t.Errorf("Compression %q", ni.Compression)
			}
			// Tampering with any signed field breaks the signature.
			ni.NarSize++
			if n := ni.CountValidSigs(trusted); n != 0 {
				t.Errorf("tampered narinfo: %d valid signatures", n)
			}
		})
	}
	if derivers != 4 {
		t.Errorf("%d input-addressed fixtures with a Deriver, want 4", derivers)
	}
}

const good = "StorePath: /nix/store/ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t\n" +
	"URL: nar/0w57v0m1s3nj2xgyjjnccglnp9dal7kl6h6jgnvmsraqxfqqcw44.nar\n" +
	"Compression: none\n" +
	"NarHash: sha256:0w57v0m1s3nj2xgyjjnccglnp9dal7kl6h6jgnvmsraqxfqqcw44\n" +
	"NarSize: 168\n" +
	"References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string // want: String() or the error
	}{
		{"minimal", good, good},
		{"no compression means bzip2", strings.Replace(good, "Compression: none\n", "", 1), strings.Replace(good, "none", "bzip2", 1)},
		{"empty compression means bzip2", strings.Replace(good, "Compression: none\n", "Compression: \n", 1), strings.Replace(good, "none", "bzip2", 1)},
		{"unknown keys ignored", good + "Foo: bar\n", good},
		{"no references line", strings.Replace(good, "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d\n", "", 1), strings.Replace(good, "19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", "", 1)},
		{"unknown deriver", good + "Deriver: unknown-deriver\n", good},
		{"deriver", good + "Deriver: n8096c8imyx4vk2phh10wcj6nh7dcgj0-drv.drv\n", good + "Deriver: n8096c8imyx4vk2phh10wcj6nh7dcgj0-drv.drv\n"},
		{"references sorted", strings.Replace(good, "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", "References: ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", 1),
			strings.Replace(good, "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t", 1)},
		{"hex hash normalised", strings.Replace(good, "sha256:0w57v0m1s3nj2xgyjjnccglnp9dal7kl6h6jgnvmsraqxfqqcw44\nNarSize", "sha256-hHCGsetYZV23fdJAQ+ehqqVr6WPMSulfF9IOHSrYp3A=\nNarSize", 1), ""},
		{"no final newline", strings.TrimSuffix(good, "\n"), "narinfo:6: line does not end in a newline"},
		{"no colon", good + "junk\n", "narinfo:7: expecting ':'"},
		{"no space", good + "System:x\n", "narinfo:7: expecting a space after 'System:'"},
		{"missing StorePath", good[strings.Index(good, "URL"):], "narinfo: StorePath missing"},
		{"missing NarHash", strings.Replace(good, "NarHash", "X", 1), "narinfo: NarHash missing"},
		{"missing URL", strings.Replace(good, "URL", "X", 1), "narinfo: URL missing"},
		{"zero NarSize", strings.Replace(good, "NarSize: 168", "NarSize: 0", 1), "narinfo: NarSize missing or zero"},
		{"bad NarSize", strings.Replace(good, "NarSize: 168", "NarSize: -1", 1), "narinfo:5: NarSize: invalid number '-1'"},
		{"leading zero", strings.Replace(good, "NarSize: 168", "NarSize: 0168", 1), "narinfo:5: NarSize: invalid number '0168'"},
		{"bad hash", strings.Replace(good, "sha256:0w57v0m1s3nj2xgyjjnccglnp9dal7kl6h6jgnvmsraqxfqqcw44\nNarSize", "sha256:0w57\nNarSize", 1), "narinfo:4: NarHash: "},
		{"relative StorePath", strings.Replace(good, "/nix/store/ymds", "ymds", 1), "narinfo:1: StorePath 'ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t' is not an absolute store path"},
		{"bad StorePath", strings.Replace(good, "/nix/store/ymds", "/nix/store/ymde", 1), "narinfo:1: StorePath: "},
		{"bad reference", strings.Replace(good, "References: 19qsh9", "References: 19qsh!", 1), "narinfo:6: References: "},
		{"double space", strings.Replace(good, "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", "References: 19qsh9zqxhlmgc92j3jzyin1jjf5w115-d  19qsh9zqxhlmgc92j3jzyin1jjf5w115-d", 1), "narinfo:6: References must be separated by single spaces"},
		{"duplicate key", good + "NarSize: 168\n", "narinfo:7: duplicate NarSize (first on line 5)"},
		{"bad sig", good + "Sig: k:AAAA\n", "narinfo:7: Sig: parse signature named 'k': bad key: 3 bytes, want 64"},
		{"bad CA", good + "CA: fixed:foo\n", "narinfo:7: CA: "},
		{"bad deriver", good + "Deriver: x\n", "narinfo:7: Deriver: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni, err := Parse(strings.NewReader(tt.in))
			var got string
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%v does not match ErrCorrupt", err)
				}
				if tt.want == "" || !strings.HasPrefix(got, tt.want) {
					t.Errorf("got error %q, want %q", got, tt.want)
				}
				return
			}
			got = ni.String()
			if tt.want == "" {
				if got != good {
					t.Errorf("got %q, want %q", got, good)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.narinfo")
	for _, file := range files[:3] {
		data, _ := os.ReadFile(file)
		f.Add(string(data))
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		ni, err := Parse(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		out := ni.String()
		ni2, err := Parse(strings.NewReader(out))
		if err != nil {
			t.Fatalf("String() of a parsed narinfo does not parse: %v\n%q", err, out)
		}
		if out2 := ni2.String(); out2 != out {
			t.Fatalf("not a fixed point:\n%q\n%q", out, out2)
		}
	})
}
