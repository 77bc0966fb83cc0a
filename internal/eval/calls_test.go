package eval

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func evalToString(t *testing.T, opts Options, src string) (string, error) {
	t.Helper()
	ev := New(opts)
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalString(src, "«string»", "/")
		if err != nil {
			return err
		}
		if err := ev.ForceDeep(v); err != nil {
			return err
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		return "", errors.New(ev.FormatError(err, opts.ShowTrace))
	}
	return out.String(), nil
}

// TestDirectCalls covers calls of base-scope builtins with their exact
// arity (called directly) and curried two-argument lambda calls (one
// allocation for both environments): results, deep nesting across stack
// hops, shadowing, and the traces of errors inside them.
func TestDirectCalls(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"lessThan", `[ (1 < 2) (__lessThan 2 1) ]`, "[ true false ]"},
		{"shadowed builtin", `let __lessThan = a: b: "mine"; in 1 < 2`, `"mine"`},
		{"shadowed by with", `with { map = 1; }; map (x: x) [ 1 ]`, "[ 1 ]"},
		{"partial builtin", `let f = __add 1; in f 2`, "3"},
		{"extra args", `__seq 1 (x: x + 1) 2`, "3"},
		{"curried", `let f = a: b: [ a b ]; in f 1 2`, "[ 1 2 ]"},
		{"curried formals", `let f = a: { b, c ? a }: [ a b c ]; in f 1 { b = 2; }`, "[ 1 2 1 ]"},
		{"curried closure", `let f = a: b: (c: [ a b c ]); g = f 1 2; in [ (g 3) (g 4) ]`, "[ [ 1 2 3 ] [ 1 2 4 ] ]"},
		{"curried three", `let f = a: b: c: a + b + c; in f 1 2 3`, "6"},
		{"sort", `builtins.sort (a: b: a < b) [ 3 1 2 ]`, "[ 1 2 3 ]"},
		{"function identity", `let f = a: b: a; l = [ f ]; in l == l`, "true"},
		{"deep", `let f = a: n: if n == 0 then a else __add 1 (f a (__sub n 1)); in f 0 300000`, "300000"},
		{"scratch null arg", `map (x: isNull x) [ null 1 ]`, "[ true false ]"},
		{"scratch select", `map (x: x.a.b) [ { a.b = 1; } ]`, "[ 1 ]"},
		{"scratch filter", `builtins.filter (x: x != null && !(x ? c)) [ null 1 { c = 1; } ]`, "[ 1 ]"},
		{"scratch nested", `let f = a: b: a + b; g = l: __foldl' f 0 l; in map g [ [ 1 2 3 ] [ 4 ] ]`, "[ 6 4 ]"},
		{"scratch strings", `map (x: "${x}-" + x) [ "a" "b" ]`, `[ "a-a" "b-b" ]`},
		{"scratch genList", `__genList (i: i * 2) 4`, "[ 0 2 4 6 ]"},
		{"scratch with", `with { k = 3; }; map (x: x * k) [ 1 2 ]`, "[ 3 6 ]"},
		{"escaping body", `let f = x: [ x ]; in map f [ 1 2 ]`, "[ [ 1 ] [ 2 ] ]"},
		{"outer null var", `let n = null; f = x: [ n x ]; in f null`, "[ null null ]"},
		{"rec forward refs", `rec { a = b; b = c; c = null; d = [ a ]; }`, "{ a = null; b = null; c = null; d = [ null ]; }"},
		{"let forward ref", `let a = b; b = 1; in a`, "1"},
		{"primop error trace", `let f = a: b: a < b; in f 1 "x"`, "ERR cannot compare an integer with a string; values are 1 and \"x\""},
		{"formals error", `let f = a: { b }: b; in f 1 { c = 1; }`, "ERR function 'f' called without required argument 'b'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalToString(t, Options{MaxCallDepth: 2000000}, tt.src)
			if err != nil {
				got = "ERR " + strings.TrimPrefix(strings.TrimSpace(err.Error()), "error: ")
				if i := strings.IndexByte(got, '\n'); i >= 0 && strings.HasPrefix(tt.want, "ERR") && !strings.Contains(tt.want, "\n") {
					got = firstErrLine(err.Error())
				}
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// firstErrLine returns "ERR " and the innermost error message of a
// formatted error (the last line starting with "error: " or the first).
func firstErrLine(s string) string {
	last := ""
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if m, ok := strings.CutPrefix(l, "error: "); ok {
			last = m
		}
	}
	return "ERR " + last
}

// TestScratchEnvs checks that scratch frames taken while the stack grows
// keep their memory, and that released memory is cleared.
func TestScratchEnvs(t *testing.T) {
	ev := New(Options{})
	var frames [][]Value
	for i := range 3000 {
		m := ev.scratchEnvs(3)
		m[1] = Int(int64(i))
		frames = append(frames, m)
	}
	for i, m := range frames {
		if m[1].IntV() != int64(i) {
			t.Fatalf("frame %d holds %d", i, m[1].IntV())
		}
	}
	for i := len(frames) - 1; i >= 0; i-- {
		ev.releaseEnvs(frames[i])
	}
	if len(ev.scratch) != 0 {
		t.Fatalf("scratch not empty: %d", len(ev.scratch))
	}
	m := ev.scratchEnvs(3)
	if m[1] != (Value{}) {
		t.Fatal("reused scratch memory not cleared")
	}
}
