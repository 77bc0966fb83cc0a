package refscan

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

const (
	h1 = "i9pmrzmpshapij2kin22pff6fc2adavx"
	h2 = "gy454w1cxaq731grqwylhzf4pp9r5izh"
	h3 = "3p04jdnsw65v6nld53wli53r60p4xmjk"
)

// naive reports every candidate that occurs anywhere in data.
func naive(data []byte, cands []string) []string {
	var out []string
	for _, c := range []string{h3, h2, h1} { // sorted order
		for _, x := range cands {
			if x == c && bytes.Contains(data, []byte(c)) {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestScan(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", "hello world", ""},
		{"path", "/nix/store/" + h1 + "-hello.txt\n", h1},
		{"bare", h2, h2},
		{"two", "x" + h2 + h1 + "y", h3[:0] + h2 + " " + h1},
		{"overlap base32 run", "aaaa" + h1 + "aaaa", h1},
		{"broken by e", h1[:10] + "e" + h1[11:], ""},
		{"truncated", h1[:31], ""},
		{"utf16", strings.Join(strings.Split(h1, ""), "\x00"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New([]string{h1, h2, h3, "short"})
			s.Write([]byte(tt.in))
			if got := strings.Join(s.Found(), " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// Splitting the stream into arbitrary writes gives the same result.
func TestChunking(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	cands := []string{h1, h2, h3}
	for iter := 0; iter < 300; iter++ {
		var buf bytes.Buffer
		for buf.Len() < 400 {
			switch r.Intn(4) {
			case 0:
				buf.WriteString(cands[r.Intn(3)][:r.Intn(33)])
			case 1:
				buf.WriteString("0123456789abcdfg"[:r.Intn(16)])
			default:
				buf.WriteByte(byte(r.Intn(256)))
			}
		}
		data := buf.Bytes()
		want := strings.Join(naive(data, cands), " ")
		s := New(cands)
		for rest := data; len(rest) > 0; {
			n := 1 + r.Intn(min(len(rest), 70))
			s.Write(rest[:n])
			rest = rest[n:]
		}
		if got := strings.Join(s.Found(), " "); got != want {
			t.Fatalf("iter %d: got %q, want %q", iter, got, want)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte("/nix/store/"+h1+"-x"), 7)
	f.Add([]byte(h2+h3), 1)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if len(data) > 1<<12 {
			return
		}
		cands := []string{h1, h2, h3}
		want := strings.Join(naive(data, cands), " ")
		s := New(cands)
		if split <= 0 {
			split = 1
		}
		for rest := data; len(rest) > 0; {
			n := min(split, len(rest))
			s.Write(rest[:n])
			rest = rest[n:]
		}
		if got := strings.Join(s.Found(), " "); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
