package xz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ulikunitz "github.com/ulikunitz/xz"
)

// xzTool returns the path of the xz command, skipping the test loudly
// when it is absent (failing under CI=true).
func xzTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xz")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xz command not found (apt-get install xz-utils): needed for the differential tests")
		}
		t.Skip("SKIP: xz command not found (apt-get install xz-utils); differential tests not run")
	}
	return p
}

func xzCompress(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(xzTool(t), append([]string{"-c", "-T1"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz %v: %v: %s", args, err, stderr.String())
	}
	return out.Bytes()
}

func decodeAll(compressed []byte, bufSize int) ([]byte, error) {
	z, err := NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	buf := make([]byte, bufSize)
	for {
		n, err := z.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

func ulikunitzDecode(compressed []byte) ([]byte, error) {
	r, err := ulikunitz.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// testInputs returns named inputs of varied compressibility.
func testInputs(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 3<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text bytes.Buffer
	words := strings.Fields("the quick brown fox jumps over lazy dog nix store path derivation closure output hash")
	for text.Len() < 2<<20 {
		fmt.Fprintf(&text, "%s %d\n", words[rng.IntN(len(words))], rng.IntN(1000))
	}
	mixed := make([]byte, 0, 4<<20)
	for len(mixed) < 4<<20 {
		switch rng.IntN(4) {
		case 0:
			mixed = append(mixed, random[:rng.IntN(50000)]...)
		case 1:
			mixed = append(mixed, bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(5000))...)
		case 2:
			off := rng.IntN(text.Len() - 70000)
			mixed = append(mixed, text.Bytes()[off:off+rng.IntN(70000)]...)
		case 3:
			if len(mixed) > 10 {
				off := rng.IntN(len(mixed))
				mixed = append(mixed, mixed[off:off+rng.IntN(len(mixed)-off)%100000]...)
			}
		}
	}
	in := map[string][]byte{
		"empty":      {},
		"one":        {'x'},
		"tiny":       []byte("hello, hello, hello world\n"),
		"random":     random,
		"repetitive": bytes.Repeat([]byte("abcabcabd"), 1<<20),
		"zeros":      make([]byte, 5<<20),
		"text":       text.Bytes(),
		"mixed":      mixed,
	}
	if b, err := os.ReadFile("/usr/bin/go"); err == nil && len(b) > 0 {
		in["binary"] = b[:min(len(b), 6<<20)]
	} else if b, err := os.ReadFile(os.Args[0]); err == nil {
		in["binary"] = b[:min(len(b), 6<<20)]
	}
	return in
}

func checkSame(t *testing.T, name string, want, compressed []byte) {
	t.Helper()
	for _, bs := range []int{1 << 20, 32 << 10, 777} {
		got, err := decodeAll(compressed, bs)
		if err != nil {
			t.Fatalf("%s (read size %d): %v", name, bs, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s (read size %d): output differs: got %d bytes, want %d", name, bs, len(got), len(want))
		}
		if bs != 1<<20 && len(want) > 1<<20 {
			break
		}
	}
}

func TestDifferentialXZ(t *testing.T) {
	inputs := testInputs(t)
	type variant struct {
		name string
		args []string
	}
	variants := []variant{
		{"default", nil},
		{"crc32", []string{"-C", "crc32"}},
		{"crc64", []string{"-C", "crc64"}},
		{"sha256", []string{"-C", "sha256"}},
		{"none", []string{"-C", "none"}},
		{"blocks", []string{"--block-size=100000"}},
		{"lc4", []string{"--lzma2=preset=6,lc=4,lp=0,pb=0"}},
		{"lp2", []string{"--lzma2=preset=1,lc=1,lp=2,pb=4"}},
		{"smalldict", []string{"--lzma2=preset=6,dict=4KiB"}},
	}
	for p := 0; p <= 9; p++ {
		variants = append(variants, variant{fmt.Sprintf("preset%d", p), []string{fmt.Sprintf("-%d", p)}})
	}
	variants = append(variants, variant{"preset6e", []string{"-6e"}}, variant{"preset0e", []string{"-0e"}})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for name, data := range inputs {
				if testing.Short() && len(data) > 1<<20 && !strings.HasPrefix(v.name, "preset") {
					continue
				}
				c := xzCompress(t, data, v.args...)
				checkSame(t, name, data, c)
			}
		})
	}
}

func TestConcatenatedStreams(t *testing.T) {
	inputs := testInputs(t)
	var all, want []byte
	for _, name := range []string{"tiny", "empty", "text", "random", "one"} {
		all = append(all, xzCompress(t, inputs[name], "-C", "crc32")...)
		all = append(all, make([]byte, 8)...) // stream padding
		want = append(want, inputs[name]...)
	}
	checkSame(t, "concatenated", want, all)

	bad := append(append([]byte{}, all...), 0, 0)
	if _, err := decodeAll(bad, 1<<16); !errors.Is(err, ErrCorrupt) {
		t.Errorf("padding not a multiple of 4: err = %v, want ErrCorrupt", err)
	}
}

func TestUlikunitzAgrees(t *testing.T) {
	inputs := testInputs(t)
	for name, data := range inputs {
		c := xzCompress(t, data, "-6")
		u, err := ulikunitzDecode(c)
		if err != nil {
			t.Fatalf("%s: ulikunitz: %v", name, err)
		}
		got, err := decodeAll(c, 64<<10)
		if err != nil || !bytes.Equal(got, u) {
			t.Fatalf("%s: differs from ulikunitz (err %v)", name, err)
		}
	}
	// ulikunitz's writer produces LZMA2 chunks of its own shape.
	var buf bytes.Buffer
	w, err := ulikunitz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inputs["mixed"])
	w.Close()
	checkSame(t, "ulikunitz-written", inputs["mixed"], buf.Bytes())
}

func TestUnsupported(t *testing.T) {
	data := testInputs(t)["text"][:100000]
	for _, args := range [][]string{
		{"--x86", "--lzma2"},
		{"--delta=dist=4", "--lzma2"},
		{"-F", "lzma"},
	} {
		c := xzCompress(t, data, args...)
		_, err := NewReader(bytes.NewReader(c))
		if args[0] == "-F" {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%v: err = %v, want ErrCorrupt", args, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: err = %v, want ErrUnsupported", args, err)
		}
	}
	// check type 2 (reserved) with a correct header CRC
	c := xzCompress(t, data)
	c[7] = 2
	binaryPutCRC(c)
	if _, err := NewReader(bytes.NewReader(c)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("check type 2: err = %v, want ErrUnsupported", err)
	}
}

func binaryPutCRC(c []byte) {
	s := crc32IEEE(c[6:8])
	c[8], c[9], c[10], c[11] = byte(s), byte(s>>8), byte(s>>16), byte(s>>24)
}

// TestCorrupt flips bytes and truncates: every result must be an error
// or the original data (never a panic, never a hang); a flipped payload
// byte must not go unnoticed when a check is present.
func TestCorrupt(t *testing.T) {
	data := testInputs(t)["mixed"][:300000]
	for _, check := range []string{"crc64", "none"} {
		c := xzCompress(t, data, "-C", check, "--block-size=65536")
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < 300; i++ {
			m := append([]byte{}, c...)
			pos := rng.IntN(len(m))
			m[pos] ^= byte(1 + rng.IntN(255))
			got, err := decodeAll(m, 1<<16)
			if err == nil && !bytes.Equal(got, data) && check != "none" {
				t.Fatalf("%s: flip at %d not detected", check, pos)
			}
		}
		for _, n := range []int{0, 1, 11, 12, 13, 100, len(c) / 2, len(c) - 13, len(c) - 1} {
			if _, err := decodeAll(c[:n], 1<<16); err == nil {
				t.Fatalf("%s: truncated to %d bytes: no error", check, n)
			}
		}
	}
}

// TestChecksumVerified alters the stored check value.
func TestChecksumVerified(t *testing.T) {
	data := []byte("some data that is checked")
	for _, check := range []string{"crc32", "crc64", "sha256"} {
		c := xzCompress(t, data, "-C", check)
		// the check sits just before the index: flip a byte of it by
		// locating it from the end: index (12 bytes for one short block
		// here) + footer 12.
		m := append([]byte{}, c...)
		m[len(m)-12-12-1] ^= 1
		if _, err := decodeAll(m, 4096); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: altered check: err = %v", check, err)
		}
	}
}

func TestShaOfLargeOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	// 40 MiB through an 8 MiB dictionary: the buffer wraps several times.
	rng := rand.New(rand.NewPCG(5, 6))
	inputs := testInputs(t)
	var data []byte
	for len(data) < 40<<20 {
		k := []string{"mixed", "text", "binary", "zeros"}[rng.IntN(4)]
		data = append(data, inputs[k]...)
	}
	c := xzCompress(t, data, "-6")
	z, err := NewReader(bytes.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, z, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("40 MiB output differs")
	}
}

func TestFuzzSeeds(t *testing.T) {
	// keep the seed corpus files parseable and small
	files, _ := filepath.Glob("testdata/fuzz/FuzzReader/*")
	if len(files) == 0 {
		t.Fatal("no seed corpus in testdata/fuzz/FuzzReader")
	}
}

// TestReset reuses one Reader (and its buffers) for several files,
// including after an error.
func TestReset(t *testing.T) {
	inputs := testInputs(t)
	var z Reader
	for _, name := range []string{"text", "tiny", "random", "empty", "mixed", "one"} {
		c := xzCompress(t, inputs[name], "-6")
		if err := z.Reset(bytes.NewReader(c[:len(c)/2])); err == nil {
			if _, err := io.Copy(io.Discard, &z); err == nil {
				t.Fatalf("%s: truncated input read without error", name)
			}
		}
		if err := z.Reset(bytes.NewReader(c)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(&z)
		if err != nil || !bytes.Equal(got, inputs[name]) {
			t.Fatalf("%s: after Reset: err %v, equal %v", name, err, bytes.Equal(got, inputs[name]))
		}
	}
}

// TestIgnoreCheck: with IgnoreCheck a wrong check value is not noticed
// (the caller verifies a hash of the output); without, it is.
func TestIgnoreCheck(t *testing.T) {
	data := bytes.Repeat([]byte("ignore the check, not the data\n"), 4096)
	for _, c := range []struct {
		arg  string
		size int
		sum  func() []byte
	}{
		{"--check=crc32", 4, func() []byte { return binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)) }},
		{"--check=crc64", 8, func() []byte {
			return binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
		}},
		{"--check=sha256", 32, func() []byte { s := sha256.Sum256(data); return s[:] }},
	} {
		good := xzCompress(t, data, c.arg)
		i := bytes.Index(good, c.sum())
		if i < 0 {
			t.Fatalf("%s: check value not found in the file", c.arg)
		}
		bad := bytes.Clone(good)
		bad[i] ^= 1
		if _, err := decodeAll(bad, 4096); err == nil {
			t.Errorf("%s: a wrong check value went unnoticed", c.arg)
		}
		z, err := NewReader(bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		z.IgnoreCheck(true)
		for _, in := range [][]byte{bad, good} { // the setting survives Reset
			if err := z.Reset(bytes.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(z)
			if err != nil || !bytes.Equal(out, data) {
				t.Errorf("%s, check ignored: %d bytes, %v", c.arg, len(out), err)
			}
		}
	}
}
