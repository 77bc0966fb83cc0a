package toml

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/eval/numfmt"
)

// render prints a decoded tree as nix-instantiate --eval --strict prints the
// value builtins.fromTOML makes of it (with parse-toml-timestamps).
func render(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return numfmt.FormatFloatEval(v)
	case string:
		return nixString(v)
	case Datetime:
		return `{ _type = "timestamp"; value = ` + nixString(v.Text) + `; }`
	case []any:
		if len(v) == 0 {
			return "[ ]"
		}
		parts := []string{}
		for _, e := range v {
			parts = append(parts, render(e))
		}
		return "[ " + strings.Join(parts, " ") + " ]"
	case *Object:
		if len(v.Keys) == 0 {
			return "{ }"
		}
		idx := make([]int, len(v.Keys))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return v.Keys[idx[a]] < v.Keys[idx[b]] })
		parts := []string{}
		for _, i := range idx {
			parts = append(parts, attrName(v.Keys[i])+" = "+render(v.Values[i])+";")
		}
		return "{ " + strings.Join(parts, " ") + " }"
	}
	return "?"
}

func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func attrName(s string) string {
	ok := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if i == 0 && !letter || i > 0 && !letter && !('0' <= c && c <= '9' || c == '\'' || c == '-') {
			ok = false
		}
	}
	if ok {
		return s
	}
	return nixString(s)
}

var decodeTests = []struct{ in, want string }{
	{"", "{ }"},
	{"a = 1", "{ a = 1; }"},
	{"a = 1\r\nb = 'x'\r\n", `{ a = 1; b = "x"; }`},
	{`title = "TOML Example" # comment`, `{ title = "TOML Example"; }`},
	{"[owner]\nname = \"Tom\"\n[database]\nports = [ 8001, 8001, 8002 ]\nenabled = true",
		`{ database = { enabled = true; ports = [ 8001 8001 8002 ]; }; owner = { name = "Tom"; }; }`},
	{"a = [[{ b = true }]]\nc = [ [ { d = true } ] ]\ne = [[123]]", `{ a = [ [ { b = true; } ] ]; c = [ [ { d = true; } ] ]; e = [ [ 123 ] ]; }`},
	{"[[p]]\nn = 1\n[[p]]\n[[p]]\nn = 3", `{ p = [ { n = 1; } { } { n = 3; } ]; }`},
	{"[[fruit]]\nname = \"apple\"\n[fruit.physical]\ncolor = \"red\"\n[[fruit.variety]]\nname = \"rd\"\n[[fruit]]\nname = \"banana\"",
		`{ fruit = [ { name = "apple"; physical = { color = "red"; }; variety = [ { name = "rd"; } ]; } { name = "banana"; } ]; }`},
	{"physical.color = \"orange\"\nsite.\"google.com\" = true", `{ physical = { color = "orange"; }; site = { "google.com" = true; }; }`},
	{"[ j . \"ʞ\" . 'l' ]", `{ j = { "ʞ" = { l = { }; }; }; }`},
	{"1234 = \"value\"\n\"\" = 1", `{ "" = 1; "1234" = "value"; }`},
	// integers
	{"a = +99\nb = -17\nc = 1_000\nd = 0xDEAD_beef\ne = 0o755\nf = 0b11010110\ng = 0", `{ a = 99; b = -17; c = 1000; d = 3735928559; e = 493; f = 214; g = 0; }`},
	{"a = 9223372036854775807\nb = -9223372036854775808", `{ a = 9223372036854775807; b = -9223372036854775808; }`},
	{"a = 0x7FFFFFFFFFFFFFFF", `{ a = 9223372036854775807; }`},
	// floats
	{"a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e6\nf = -2E-2\ng = 6.626e-34\nh = 9_224_617.445_991_228_313", `{ a = 1; b = 3.1415; c = -0.01; d = 5e+22; e = 1e+06; f = -0.02; g = 6.626e-34; h = 9.22462e+06; }`},
	{"a = inf\nb = -inf\nc = nan\nd = -nan\ne = +inf", `{ a = inf; b = -inf; c = nan; d = -nan; e = inf; }`},
	{"a = 1e-400", `{ a = 0; }`},
	// strings
	{`str = "I'm a string. \"You can quote me\". Name\tJos\u00E9\nLocation\tSF."`, `{ str = "I'm a string. \"You can quote me\". Name\tJosé\nLocation\tSF."; }`},
	{`a = "\U0001F600 \b\f\\"`, "{ a = \"😀 \b\f\\\\\"; }"},
	{"a = [ \"all\", 'strings', \"\"\"are the same\"\"\", '''type''']", `{ a = [ "all" "strings" "are the same" "type" ]; }`},
	{"a = \"\"\"\nRoses\nViolets\"\"\"", `{ a = "Roses\nViolets"; }`},
	{"a = \"\"\"\\\n   The quick \\\n\n  fox\"\"\"", `{ a = "The quick fox"; }`},
	{`a = """Here are two quotes: "". """""`, "{ a = \"Here are two quotes: \\\"\\\". \\\"\\\"\"; }"},
	{"a = '''\nfirst\n  second\\n'''", `{ a = "first\n  second\\n"; }`},
	{`a = """x"""""`, `{ a = "x\"\""; }`},
	{"a = 'C:\\Users\\x'", `{ a = "C:\\Users\\x"; }`},
	// arrays and inline tables
	{"a = [\n  1,\n  2, # ok\n]", `{ a = [ 1 2 ]; }`},
	{"a = [ [ 1, 2 ], [\"a\", \"b\"] ]", `{ a = [ [ 1 2 ] [ "a" "b" ] ]; }`},
	{"a = []", `{ a = [ ]; }`},
	{"name = { first = \"Tom\", last = \"P\" }\nanimal = { type.name = \"pug\" }\ne = {}", `{ animal = { type = { name = "pug"; }; }; e = { }; name = { first = "Tom"; last = "P"; }; }`},
	{"a = { b.c = 1, b.d = 2 }", `{ a = { b = { c = 1; d = 2; }; }; }`},
	{"a = { b = { c = 1 } }\na.b.d = 2", "error: [error] toml::insert_value: cannot add a key to an inline table\n --> fromTOML\n   |\n 2 | a.b.d = 2\n   | ^-- inline table is immutable\n"},
	// timestamps
	{"odt1 = 1979-05-27T07:32:00Z\nodt2 = 1979-05-27T00:32:00-07:00\nodt3 = 1979-05-27 07:32:00.1234567891+00:00",
		`{ odt1 = { _type = "timestamp"; value = "1979-05-27T07:32:00Z"; }; odt2 = { _type = "timestamp"; value = "1979-05-27T00:32:00-07:00"; }; odt3 = { _type = "timestamp"; value = "1979-05-27T07:32:00.123456789Z"; }; }`},
	{"a = 1979-05-27t00:32:00.1234\nb = 1979-05-27\nc = 07:32:00\nd = 00:32:00.12\ne = 00:32:00.000",
		`{ a = { _type = "timestamp"; value = "1979-05-27T00:32:00.123400"; }; b = { _type = "timestamp"; value = "1979-05-27"; }; c = { _type = "timestamp"; value = "07:32:00"; }; d = { _type = "timestamp"; value = "00:32:00.120"; }; e = { _type = "timestamp"; value = "00:32:00"; }; }`},
	{"a = 2024-02-29", `{ a = { _type = "timestamp"; value = "2024-02-29"; }; }`},
	// errors: suite eval-fail-fromTOML-overflow, -underflow, -keyWithNullByte, -valueWithNullByte
	{"attr = 9223372036854775808", "error: [error] toml::parse_dec_integer: too large integer: current max digits = 2^63\n --> fromTOML\n   |\n 1 | attr = 9223372036854775808\n   |                           ^-- must be < 2^63\n"},
	{"attr = -9223372036854775809", "error: [error] toml::parse_dec_integer: too large integer: current max digits = 2^63\n --> fromTOML\n   |\n 1 | attr = -9223372036854775809\n   |                            ^-- must be < 2^63\n"},
	{`"a\u0000b" = 1`, "error: error: input string 'a␀b' cannot be represented as Nix string because it contains null bytes"},
	{`k = "a\u0000b"`, "error: error: input string 'a␀b' cannot be represented as Nix string because it contains null bytes"},
	// more errors
	{"a = 1\na = 2", "error: [error] toml::insert_value: value (\"a\") already exists.\n --> fromTOML\n   |\n 2 | a = 2\n   | ^-- here\n"},
	{"[a]\n[a]", "error: [error] toml::insert_value: table (\"a\") already exists.\n --> fromTOML\n   |\n 2 | [a]\n   |  ^-- here\n"},
	{"a.b = 1\n[a]", "error: [error] toml::insert_value: table (\"a\") already exists.\n --> fromTOML\n   |\n 2 | [a]\n   |  ^-- here\n"},
	{"a = {b = 1}\na.c = 2", "error: [error] toml::insert_value: cannot add a key to an inline table\n --> fromTOML\n   |\n 2 | a.c = 2\n   | ^-- inline table is immutable\n"},
	{"a = [1]\n[[a]]", "error: [error] toml::insert_value: cannot append to a static array\n --> fromTOML\n   |\n 2 | [[a]]\n   |   ^-- here\n"},
	{"a = 01", "error: [error] toml::parse_integer: leading zero in an decimal integer is not allowed\n --> fromTOML\n   |\n 1 | a = 01\n   |     ^-- leading zero\n"},
	{"a = 1 b = 2", "error: [error] toml::parse_key_value_pair: missing newline after key value pair\n --> fromTOML\n   |\n 1 | a = 1 b = 2\n   |       ^-- expected newline, but got 'b'.\n"},
	{"a = {b = 1,}", "error: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table\n --> fromTOML\n   |\n 1 | a = {b = 1,}\n   |            ^-- here\n"},
	{"a = 1979-02-29", "error: [error] toml::parse_local_date: invalid date.\n --> fromTOML\n   |\n 1 | a = 1979-02-29\n   |     ^-- here\n"},
	{"a = \"x", "error: [error] toml::parse_basic_string: invalid string: basic string must be like: \"abc\"\n --> fromTOML\n   |\n 1 | a = \"x\n   |     ^-- missing closing `\"`\n"},
	{"a = \"\\q\"", "error: [error] toml::parse_escape_sequence: unknown escape sequence appeared\n --> fromTOML\n   |\n 1 | a = \"\\q\"\n   |      ^-- here\n"},
	{"a = 1e400", "error: [error] toml::parse_floating: failed to read floating point value from stream\n --> fromTOML\n   |\n 1 | a = 1e400\n   |          ^-- here\n"},
	{"a = 0_1", "error: [error] toml::parse_integer: leading zero in an decimal integer is not allowed\n --> fromTOML\n   |\n 1 | a = 0_1\n   |     ^-- leading zero\n"},
	{"a = infx", "error: [error] toml::parse_value: unknown value appeared\n --> fromTOML\n   |\n 1 | a = infx\n   |        ^-- here\n"},
	{"a = 1_", "error: [error] toml::parse_value: unknown value appeared\n --> fromTOML\n   |\n 1 | a = 1_\n   |      ^-- here\n"},
	{"= 1", "error: [error] toml::parse_simple_key: invalid key: key must be like: `bare-key`, `\"basic key\"`, `'literal key'`\n --> fromTOML\n   |\n 1 | = 1\n   | ^-- here\n"},
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeTests {
		v, err := Decode(tt.in)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = render(v)
		}
		if got != tt.want {
			t.Errorf("Decode(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

var decode28Tests = []struct{ in, want string }{
	// observed with nix-instantiate 2.8
	{"a = 9223372036854775808", "{ a = 9223372036854775807; }"},
	{"a = -9223372036854775809", "{ a = -9223372036854775808; }"},
	{"a = 0x8000000000000000", "{ a = 9223372036854775807; }"},
	{"a = 0o7777777777777777777777", "{ a = 9223372036854775807; }"},
	{"a = 0b1111111111111111111111111111111111111111111111111111111111111111", "{ a = -1; }"},
	{"a = 1e400", "{ a = 1.79769e+308; }"},
	{"a = -1e400", "{ a = -1.79769e+308; }"},
	{"[[t.a]]\n[t]", "error"},
	{"[t.a]\n[t]", "{ t = { a = { }; }; }"},
}

func TestDecode28(t *testing.T) {
	for _, tt := range decode28Tests {
		v, err := Decode28(tt.in)
		got := "error"
		if err == nil {
			got = render(v)
		}
		if got != tt.want {
			t.Errorf("Decode28(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := Decode("[[t.a]]\n[t]"); err != nil {
		t.Errorf("Decode: TOML 1.0 allows [t] after [[t.a]]: %v", err)
	}
}

func TestNegativeNaN(t *testing.T) {
	v, err := Decode("a = -nan")
	if err != nil {
		t.Fatal(err)
	}
	f := v.(*Object).Values[0].(float64)
	if !math.IsNaN(f) || !math.Signbit(f) {
		t.Errorf("-nan decoded as %v (signbit %v)", f, math.Signbit(f))
	}
}

// TestSuite decodes the TOML documents of the upstream language tests
// eval-okay-fromTOML and eval-okay-fromTOML-timestamps (extracted with the
// reference Nix) and compares with their expected output.
func TestSuite(t *testing.T) {
	dir := "/work/shared/conformance/nix-lang"
	nix, err := exec.LookPath("nix-instantiate")
	if err == nil {
		_, err = os.Stat(dir)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-instantiate or the language suite is missing")
		}
		t.Skip("SKIP: nix-instantiate or " + dir + " missing; suite documents not checked")
	}
	for _, name := range []string{"eval-okay-fromTOML", "eval-okay-fromTOML-timestamps"} {
		src, err := os.ReadFile(filepath.Join(dir, name+".nix"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, name+".exp"))
		if err != nil {
			t.Fatal(err)
		}
		expr := strings.ReplaceAll(string(src), "builtins.fromTOML", "(s: s)")
		cmd := exec.Command(nix, "--eval", "--strict", "--json", "-E", expr)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: extracting documents: %v", name, err)
		}
		var docs any
		if err := json.Unmarshal(out, &docs); err != nil {
			t.Fatal(err)
		}
		var got string
		render1 := func(doc string) string {
			v, err := Decode(doc)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return render(v)
		}
		switch d := docs.(type) {
		case string:
			got = render1(d)
		case []any:
			var parts []string
			for _, doc := range d {
				parts = append(parts, render1(doc.(string)))
			}
			got = "[ " + strings.Join(parts, " ") + " ]"
		}
		if got != strings.TrimSpace(string(want)) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
