package numfmt

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

var tests = []struct {
	in             float64
	eval, toString string
}{
	{0.1 + 0.2, "0.3", "0.300000"},
	{1.5, "1.5", "1.500000"},
	{-0.5, "-0.5", "-0.500000"},
	{0, "0", "0.000000"},
	{math.Copysign(0, -1), "-0", "-0.000000"},
	{3.4, "3.4", "3.400000"},
	{1e16, "1e+16", "10000000000000000.000000"},
	{1.5e-05, "1.5e-05", "0.000015"},
	{123456, "123456", "123456.000000"},
	{1234567, "1.23457e+06", "1234567.000000"},
	{100000, "100000", "100000.000000"},
	{1e6, "1e+06", "1000000.000000"},
	{0.0001, "0.0001", "0.000100"},
	{0.00001, "1e-05", "0.000010"},
	{0.0078125, "0.0078125", "0.007812"}, // exact tie rounds to even
	{5e-7, "5e-07", "0.000000"},
	{1e-7, "1e-07", "0.000000"},
	{9.99989e-321, "9.99989e-321", "0.000000"},
	{1e300, "1e+300", "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.000000"},
	{math.Inf(1), "inf", "inf"},
	{math.Inf(-1), "-inf", "-inf"},
	{math.NaN(), "nan", "nan"},
	{-math.NaN(), "-nan", "-nan"},
	{999999.5, "1e+06", "999999.500000"},
	{0.000123456789, "0.000123457", "0.000123"},
}

func TestFormat(t *testing.T) {
	for _, tt := range tests {
		if got := FormatFloatEval(tt.in); got != tt.eval {
			t.Errorf("FormatFloatEval(%v) = %q, want %q", tt.in, got, tt.eval)
		}
		if got := string(AppendFloatEval([]byte("x"), tt.in)); got != "x"+tt.eval {
			t.Errorf("AppendFloatEval(%v) = %q, want %q", tt.in, got, "x"+tt.eval)
		}
		if got := FormatFloatToString(tt.in); got != tt.toString {
			t.Errorf("FormatFloatToString(%v) = %q, want %q", tt.in, got, tt.toString)
		}
	}
}

// TestAgainstNix prints many finite floats with the reference Nix (2.8 prints
// floats as current Nix does in --eval and toString) and compares.
func TestAgainstNix(t *testing.T) {
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-instantiate not found; install nix-bin")
		}
		t.Skip("SKIP: nix-instantiate not found; reference comparison not run (apt-get install nix-bin)")
	}
	var vals []float64
	for _, tt := range tests {
		if !math.IsInf(tt.in, 0) && !math.IsNaN(tt.in) && tt.in != 0 && math.Abs(tt.in) > 1e-300 {
			vals = append(vals, tt.in)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 400; i++ {
		exp := r.IntN(80) - 40
		v := r.Float64() * math.Pow(10, float64(exp))
		if r.IntN(4) == 0 {
			v = math.Round(v*1000) / 1000
		}
		if r.IntN(2) == 0 {
			v = -v
		}
		if v != 0 {
			vals = append(vals, v)
		}
	}
	var b strings.Builder
	b.WriteString("[")
	for _, v := range vals {
		lit := nixLiteral(v)
		b.WriteString(" " + lit + " (toString " + lit + ")")
	}
	b.WriteString(" ]")
	cmd := exec.Command(nix, "--eval", "--strict", "-E", b.String())
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix-instantiate: %v\n%s", err, out)
	}
	got := strings.Fields(strings.Trim(strings.TrimSpace(string(out)), "[]"))
	if len(got) != 2*len(vals) {
		t.Fatalf("got %d items from Nix, want %d", len(got), 2*len(vals))
	}
	for i, v := range vals {
		if e := FormatFloatEval(v); got[2*i] != e {
			t.Errorf("%v: nix prints %s, FormatFloatEval %s", v, got[2*i], e)
		}
		if s := strconv.Quote(FormatFloatToString(v)); got[2*i+1] != s {
			t.Errorf("%v: nix toString %s, FormatFloatToString %s", v, got[2*i+1], s)
		}
	}
}

// nixLiteral writes v as a Nix expression that evaluates to exactly v.
func nixLiteral(v float64) string {
	neg := v < 0
	s := strconv.FormatFloat(math.Abs(v), 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	s = mant + "e" + exp
	if neg {
		return "(0.0 - " + s + ")"
	}
	return s
}
