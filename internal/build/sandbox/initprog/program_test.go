package initprog

import (
	"bytes"
	"reflect"
	"testing"
)

func sample() *Program {
	return &Program{Ops: []Op{
		{Nr: 41, Args: []Arg{Int(2), Int(0x80002), Int(0)}},
		{Nr: 16, Args: []Arg{Result(0, 0), Int(0x8914), Blob([]byte("lo\x00\x00"))}, OKErrno: 6, Skip: 1},
		{Nr: 135, Args: []Arg{Result(0, 0x40000)}, OKErrno: AnyErrno},
		{Nr: 317, Args: []Arg{Int(1), Int(1), Filter(make([]byte, 16))}},
		{Nr: 59, Args: []Arg{Str("/bin/sh"), Strs([]string{"sh", "-c", "echo"}), Strs(nil)}},
	}}
}

func TestRoundTrip(t *testing.T) {
	p := sample()
	got, ok := Decode(p.Encode())
	if !ok {
		t.Fatal("Decode refused Encode's output")
	}
	// Decode gives nil for empty lists; Encode does not care.
	p.Ops[4].Args[2].List = nil
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
	}
	if !bytes.Equal(got.Encode(), p.Encode()) {
		t.Error("re-encoding differs")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := sample().Encode()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("cairnsi0"), good[8:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"forward reference": (&Program{Ops: []Op{
			{Nr: 1, Args: []Arg{Result(0, 0)}},
		}}).Encode(),
		"unterminated string": (&Program{Ops: []Op{
			{Nr: 59, Args: []Arg{{Kind: List, List: [][]byte{[]byte("sh")}}}},
		}}).Encode(),
		"odd filter": (&Program{Ops: []Op{
			{Nr: 317, Args: []Arg{Filter(make([]byte, 9))}},
		}}).Encode(),
		"seven args": (&Program{Ops: []Op{
			{Nr: 1, Args: make([]Arg, 7)},
		}}).Encode(),
	} {
		if _, ok := Decode(b); ok {
			t.Errorf("%s: Decode accepted it", name)
		}
	}
}

func TestFailureRoundTrip(t *testing.T) {
	for _, f := range []Failure{{Op: BadProgram, Errno: 22}, {Op: 0, Errno: 1}, {Op: 57, Errno: 2}} {
		got, ok := DecodeFailure(EncodeFailure(f))
		if !ok || got != f {
			t.Errorf("%+v: got %+v, %v", f, got, ok)
		}
	}
	if _, ok := DecodeFailure([]byte("executing")); ok {
		t.Error("DecodeFailure accepted text")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample().Encode())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := Decode(b)
		if !ok {
			return
		}
		// What decodes re-encodes to the same bytes.
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
