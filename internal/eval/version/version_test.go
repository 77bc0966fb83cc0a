package version

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

var compareTests = []struct {
	a, b string
	want int
}{
	// suite: eval-okay-versions
	{"1.0", "2.3", -1},
	{"2.1", "2.3", -1},
	{"2.3", "2.3", 0},
	{"2.5", "2.3", 1},
	{"3.1", "2.3", 1},
	{"2.3.1", "2.3", 1},
	{"2.3.1", "2.3a", 1},
	{"2.3pre1", "2.3", -1},
	{"2.3pre3", "2.3pre12", -1},
	{"2.3a", "2.3c", -1},
	{"2.3pre1", "2.3c", -1},
	{"2.3pre1", "2.3q", -1},
	// more
	{"", "", 0},
	{"1.0", "1.0.0", -1},
	{"1.0", "1-0", 0},
	{"1..0", "1.0", 0},
	{"1.0.", "1.0", 0},
	{"01", "1", 0},
	{"2147483647", "2147483646", 1},
	{"2147483648", "2147483647", -1}, // int32 overflow: compares as a string, below a number
	{"2147483648", "2147483649", -1},
	{"99999999999", "100000000000", 1}, // both strings: bytewise
	{"20231021200112", "1", -1},
	{"a", "1", -1},
	{"1a", "1", 1},
	{"", "pre", 1},
	{"pre", "pre", 0},
	{"1.0pre", "1.0", -1},
	{"1.0rc1", "1.0", 1},
	{"1.0pre1", "1.0rc1", -1},
	{"1.0alpha", "1.0beta", -1},
	{"1.0", "1.0a", -1},
	{"unstable-2020-01-01", "1.0", -1},
	{"0.9", "unstable", 1},
	{"1.2.3", "1.2.3-1", -1},
	{"é", "e", 1},
	{"1é", "1e", 1},
}

func TestCompare(t *testing.T) {
	for _, tt := range compareTests {
		t.Run(tt.a+"~"+tt.b, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

var splitTests = []struct{ in, want string }{
	{"1.2.3", "1 2 3"},
	{"", ""},
	{"1..2--3.a", "1 2 3 a"},
	{"2.3pre1", "2 3 pre 1"},
	{"1.0.", "1 0"},
	{".1", "1"},
	{"-", ""},
	{"abc12def", "abc 12 def"},
	{"1_2", "1 _ 2"},
}

func TestSplit(t *testing.T) {
	for _, tt := range splitTests {
		if got := strings.Join(Split(tt.in), " "); got != tt.want {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var drvNameTests = []struct{ in, name, version string }{
	// suite: eval-okay-versions
	{"hello-1.0.2", "hello", "1.0.2"},
	{"hello", "hello", ""},
	{"915resolution-0.5.2", "915resolution", "0.5.2"},
	{"xf86-video-i810-1.7.4", "xf86-video-i810", "1.7.4"},
	{"name-that-ends-with-dash--1.0", "name-that-ends-with-dash", "-1.0"},
	// more
	{"nix-0.12pre1", "nix", "0.12pre1"},
	{"foo-", "foo-", ""},
	{"-1", "", "1"},
	{"a-b-c", "a-b-c", ""},
	{"a-.1", "a", ".1"},
	{"a-é", "a", "é"},
	{"", "", ""},
}

func TestParseDrvName(t *testing.T) {
	for _, tt := range drvNameTests {
		name, version := ParseDrvName(tt.in)
		if name != tt.name || version != tt.version {
			t.Errorf("ParseDrvName(%q) = %q, %q; want %q, %q", tt.in, name, version, tt.name, tt.version)
		}
	}
}

// TestAgainstNix evaluates every table case with the reference Nix and checks
// that it agrees with our tables.
func TestAgainstNix(t *testing.T) {
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-instantiate not found; install nix-bin")
		}
		t.Skip("SKIP: nix-instantiate not found; reference comparison not run (apt-get install nix-bin)")
	}
	var b strings.Builder
	b.WriteString("with builtins; [")
	for _, tt := range compareTests {
		fmt.Fprintf(&b, " (compareVersions %s %s)", nixStr(tt.a), nixStr(tt.b))
	}
	for _, tt := range splitTests {
		fmt.Fprintf(&b, " (concatStringsSep \" \" (splitVersion %s))", nixStr(tt.in))
	}
	for _, tt := range drvNameTests {
		fmt.Fprintf(&b, " (parseDrvName %s).name (parseDrvName %s).version", nixStr(tt.in), nixStr(tt.in))
	}
	b.WriteString(" ]")
	cmd := exec.Command(nix, "--eval", "--strict", "--json", "-E", b.String())
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix-instantiate: %v\n%s", err, out)
	}
	var want []string
	for _, tt := range compareTests {
		want = append(want, strconv.Itoa(tt.want))
	}
	for _, tt := range splitTests {
		want = append(want, strconv.Quote(tt.want))
	}
	for _, tt := range drvNameTests {
		want = append(want, strconv.Quote(tt.name), strconv.Quote(tt.version))
	}
	if got, w := strings.TrimSpace(string(out)), "["+strings.Join(want, ",")+"]"; got != w {
		t.Errorf("Nix disagrees with the tables:\n nix: %s\nwant: %s", got, w)
	}
}

func nixStr(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`)
	return `"` + r.Replace(s) + `"`
}
