package json

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// render prints a decoded tree compactly: ints bare, floats with a trailing
// "f", strings quoted with strconv, objects as {k:v,...}.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return string(AppendFloat(nil, v)) + "f"
	case string:
		return strconv.Quote(v)
	case []any:
		var parts []string
		for _, e := range v {
			parts = append(parts, render(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *Object:
		var parts []string
		for i, k := range v.Keys {
			parts = append(parts, strconv.Quote(k)+":"+render(v.Values[i]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("?%T", v)
}

var decodeTests = []struct{ in, want string }{
	// suite: eval-okay-fromjson, eval-okay-fromjson-escapes
	{`{"Video": {"Width": 1920, "EmbeddedData": [3.14159, 23493,null, true  ,false, -10], "Latitude":  37.7668}}`,
		`{"Video":{"Width":1920,"EmbeddedData":[3.14159f,23493,null,true,false,-10],"Latitude":37.7668f}}`},
	{`"\"\\\/\t\n\r\t"`, `"\"\\/\t\n\r\t"`},
	{`"quote \" backspace \b formfeed \f \u0008 \u00e9 \u0161 \u2192"`, `"quote \" backspace \b formfeed \f \b é š →"`},
	// suite: eval-fail-fromJSON-overflowing, -keyWithNullByte, -valueWithNullByte
	{`{"attr": 18446744073709551615}`, `error: unsigned json number 18446744073709551615 outside of Nix integer range`},
	{`{"a\u0000b": 1}`, `error: input string 'a␀b' cannot be represented as Nix string because it contains null bytes`},
	{`"a\u0000b"`, `error: input string 'a␀b' cannot be represented as Nix string because it contains null bytes`},
	// numbers
	{`9223372036854775807`, `9223372036854775807`},
	{`9223372036854775808`, `error: unsigned json number 9223372036854775808 outside of Nix integer range`},
	{`18446744073709551616`, `1.8446744073709552e+19f`},
	{`-9223372036854775808`, `-9223372036854775808`},
	{`-9223372036854775809`, `-9.223372036854776e+18f`},
	{`-0`, `0`},
	{`-0.0`, `-0.0f`},
	{`1e2`, `100.0f`},
	{`1E-2`, `0.01f`},
	{`1e400`, `error: [json.exception.out_of_range.406] number overflow parsing '1e400'`},
	{`1e-400`, `0.0f`},
	{`01`, `error: [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - unexpected number literal; expected end of input`},
	{`-`, `error: [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - invalid number; expected digit after '-'; last read: '-'`},
	{`1.`, `error: [json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid number; expected digit after '.'; last read: '1.'`},
	{`1e`, `error: [json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid number; expected '+', '-', or digit after exponent; last read: '1e'`},
	// structure
	{`{"a":1,"a":2,"b":3}`, `{"a":2,"b":3}`},
	{` [ ] `, `[]`},
	{`{}`, `{}`},
	{"\xef\xbb\xbf1", `1`},
	{``, `error: [json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal`},
	{`[1, tru]`, `error: [json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - invalid literal; last read: '1, tru]'`},
	{`[1,]`, `error: [json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - unexpected ']'; expected '[', '{', or a literal`},
	{`{"a" 1}`, `error: [json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing object separator - unexpected number literal; expected ':'`},
	{`{1:2}`, `error: [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing object key - unexpected number literal; expected string literal`},
	{"[1\n,\n2 3]", `error: [json.exception.parse_error.101] parse error at line 3, column 3: syntax error while parsing array - unexpected number literal; expected ']'`},
	{`{"a":1 "b"}`, `error: [json.exception.parse_error.101] parse error at line 1, column 10: syntax error while parsing object - unexpected string literal; expected '}'`},
	{"\"a\nb\"", `error: [json.exception.parse_error.101] parse error at line 2, column 0: syntax error while parsing value - invalid string: control character U+000A (LF) must be escaped to \u000A or \n; last read: '"a<U+000A>'`},
	{`"\x"`, `error: [json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid string: forbidden character after backslash; last read: '"\x'`},
	{`"\ud800"`, `error: [json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud800"'`},
	{`"\udc00"`, `error: [json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing value - invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF; last read: '"\udc00'`},
	{`"\ud83d\ude00"`, `"😀"`},
	{"\"\xff\"", "error: [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; last read: '\"\xff'"},
	{`"abc`, `error: [json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing value - invalid string: missing closing quote; last read: '"abc'`},
	{`{"a\u0000b": 1`, `error: input string 'a␀b' cannot be represented as Nix string because it contains null bytes`},
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

var stringTests = []struct{ in, want string }{
	// suite: eval-okay-tojson, eval-fail-toJSON-non-utf-8
	{"foo\n\"bar\"", `"foo\n\"bar\""`},
	{"_invalid UTF-8: \xff_", `error: JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index 16: 0xFF`},
	// more
	{"", `""`},
	{"\b\f\t\r\\/", `"\b\f\t\r\\/"`},
	{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
	{"é→😀<>&\u2028", "\"é→😀<>&\u2028\""},
	{"a\xc3(", `error: JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index 2: 0x28`},
	{"a\xc3", `error: JSON serialization error: [json.exception.type_error.316] incomplete UTF-8 string; last byte: 0xC3`},
	{"\xed\xa0\x80", `error: JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index 1: 0xA0`},
	{"\xc0\x80", `error: JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index 0: 0xC0`},
}

func TestAppendString(t *testing.T) {
	for _, tt := range stringTests {
		b, err := AppendString(nil, tt.in)
		got := string(b)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

var point1, point2 = 0.1, 0.2 // variables: constant arithmetic is exact

var floatTests = []struct {
	in   float64
	want string
}{
	{1.44, "1.44"}, // suite: eval-okay-tojson
	{point1 + point2, "0.30000000000000004"},
	{1, "1.0"},
	{-1, "-1.0"},
	{0, "0.0"},
	{math.Copysign(0, -1), "-0.0"},
	{1e15, "1e+15"},
	{999999999999999, "999999999999999.0"},
	{1e16, "1e+16"},
	{123456789012345.6, "123456789012345.6"},
	{0.0001, "0.0001"},
	{0.00001, "1e-05"},
	{1.5e-7, "1.5e-07"},
	{1e100, "1e+100"},
	{5e-324, "5e-324"},
	{math.MaxFloat64, "1.7976931348623157e+308"},
	{129.1945525291829, "129.19455252918289"}, // Grisu2, not shortest
	{math.Inf(1), "null"},
	{math.NaN(), "null"},
}

func TestAppendFloat(t *testing.T) {
	for _, tt := range floatTests {
		if got := string(AppendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// oracle builds testdata/oracle.cc against nlohmann::json, or skips.
func oracle(t *testing.T) string {
	gxx, err := exec.LookPath("g++")
	if err == nil {
		_, err = os.Stat("/usr/include/nlohmann/json.hpp")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("g++ or nlohmann-json3-dev missing")
		}
		t.Skip("SKIP: g++ or nlohmann-json3-dev missing; nlohmann differential test not run")
	}
	if testing.Short() {
		t.Skip("SKIP: -short; nlohmann differential test not run")
	}
	bin := filepath.Join(t.TempDir(), "oracle")
	if out, err := exec.Command(gxx, "-std=c++17", "-O1", "-o", bin, "testdata/oracle.cc").CombinedOutput(); err != nil {
		t.Fatalf("building oracle: %v\n%s", err, out)
	}
	return bin
}

func runOracle(t *testing.T, bin string, lines []string) []string {
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<24)
	var res []string
	for sc.Scan() {
		res = append(res, sc.Text())
	}
	if len(res) != len(lines) {
		t.Fatalf("oracle gave %d lines for %d inputs", len(res), len(lines))
	}
	return res
}

// saxRender renders a tree in the oracle's SAX event format.
func saxRender(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null ")
	case bool:
		b.WriteString(strconv.FormatBool(v) + " ")
	case int64:
		b.WriteString("i" + strconv.FormatInt(v, 10) + " ")
	case float64:
		b.WriteString("f" + string(AppendFloat(nil, v)) + " ")
	case string:
		s, _ := AppendString(nil, v)
		b.WriteString("s" + string(s) + " ")
	case []any:
		b.WriteString("[ ")
		for _, e := range v {
			saxRender(b, e)
		}
		b.WriteString("] ")
	case *Object:
		b.WriteString("{ ")
		for i, k := range v.Keys {
			s, _ := AppendString(nil, k)
			b.WriteString("k" + string(s) + " ")
			saxRender(b, v.Values[i])
		}
		b.WriteString("} ")
	}
}

func randomJSON(r *rand.Rand, depth int) string {
	switch k := r.IntN(12); {
	case k == 0 && depth < 4:
		var parts []string
		for i := r.IntN(4); i > 0; i-- {
			parts = append(parts, randomJSON(r, depth+1))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case k == 1 && depth < 4:
		var parts []string
		for i := r.IntN(4); i > 0; i-- {
			parts = append(parts, fmt.Sprintf("%q:%s", fmt.Sprint("k", i), randomJSON(r, depth+1)))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case k == 2:
		return []string{"true", "false", "null"}[r.IntN(3)]
	case k < 6:
		return []string{"0", "-0", "12", "-7", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
			"1.5", "1e5", "-2.5E-3", "1e400", "123456789012345678901234567890", "0.1", "3.14159"}[r.IntN(14)]
	default:
		return []string{`"abc"`, `"\u00e9\n"`, `"\ud83d\ude00"`, `""`, `"a\"b\\c"`, `"\/"`, "\"é\""}[r.IntN(7)]
	}
}

func mutate(r *rand.Rand, s string) string {
	b := []byte(s)
	for n := r.IntN(3); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			const repl = "{}[]:,\"\\ a1.e-\n\xff\x01"
			b[i] = repl[r.IntN(len(repl))]
		default:
			const ins = "{}[]:,\"\\ tfn"
			b = append(b[:i], append([]byte{ins[r.IntN(len(ins))]}, b[i:]...)...)
		}
	}
	return string(b)
}

// TestAgainstNlohmann compares decoding and float/string encoding with
// nlohmann::json on generated and mutated inputs.
func TestAgainstNlohmann(t *testing.T) {
	bin := oracle(t)
	r := rand.New(rand.NewPCG(5, 6))
	var inputs []string
	for _, tt := range decodeTests {
		if !strings.Contains(tt.in, `"a":1,"a"`) { // the oracle prints SAX events, duplicates included
			inputs = append(inputs, tt.in)
		}
	}
	for i := 0; i < 5000; i++ {
		s := randomJSON(r, 0)
		if i%2 == 1 {
			s = mutate(r, s)
		}
		inputs = append(inputs, s)
	}
	var lines []string
	for _, in := range inputs {
		lines = append(lines, fmt.Sprintf("p\t%x", in))
	}
	want := runOracle(t, bin, lines)
	bad := 0
	for i, in := range inputs {
		v, err := Decode(in)
		var got string
		switch {
		case err != nil && strings.HasPrefix(err.Error(), "input string"):
			got = "error: NUL"
		case err != nil:
			got = "error: " + err.Error()
		default:
			var b strings.Builder
			saxRender(&b, v)
			got = b.String()
		}
		if got != want[i] {
			bad++
			if bad < 20 {
				t.Errorf("Decode(%q)\n got %s\nwant %s", in, got, want[i])
			}
		}
	}

	var floats []float64
	for i := 0; i < 20000; i++ {
		f := math.Float64frombits(r.Uint64())
		if i%2 == 0 {
			f = r.Float64() * math.Pow(10, float64(r.IntN(40)-20))
		}
		floats = append(floats, f)
	}
	lines = lines[:0]
	for _, f := range floats {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		lines = append(lines, fmt.Sprintf("f\t%x", b))
	}
	want = runOracle(t, bin, lines)
	for i, f := range floats {
		if got := string(AppendFloat(nil, f)); got != want[i] {
			bad++
			if bad < 20 {
				t.Errorf("AppendFloat(%v) = %s, nlohmann %s", f, got, want[i])
			}
		}
	}

	strs := []string{}
	for _, tt := range stringTests {
		strs = append(strs, tt.in)
	}
	for i := 0; i < 3000; i++ {
		b := make([]byte, r.IntN(6))
		for j := range b {
			b[j] = byte(r.IntN(256))
			if r.IntN(2) == 0 {
				const chars = "a\n\"\\\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x01"
				b[j] = chars[r.IntN(len(chars))]
			}
		}
		strs = append(strs, string(b))
	}
	lines = lines[:0]
	for _, s := range strs {
		lines = append(lines, fmt.Sprintf("s\t%x", s))
	}
	want = runOracle(t, bin, lines)
	for i, s := range strs {
		b, err := AppendString(nil, s)
		got := string(b)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != want[i] {
			bad++
			if bad < 20 {
				t.Errorf("AppendString(%q) = %s, nlohmann %s", s, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d differences", bad)
	}
}
