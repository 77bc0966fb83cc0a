// Package initprog is the sandbox init: the process that sets up a
// sandbox's mounts, ids and filters from inside its fresh namespaces and
// then execs the builder.
//
// The init is the running binary re-executed, so it pays for the
// initialisation of every package that runs before it. A package with
// no imports is initialised first (right after the runtime), so the init
// lives here, imports nothing but unsafe, and runs from this package's
// init function: it reads a Program (a list of system calls whose
// arguments the parent computed: paths, flags, the seccomp filter, argv
// and the environment) from fd 3, makes the calls in order and execs.
// It reports the first failing call on fd 4 as its index and errno; the
// parent, which kept the Program, turns that into a message. That saves
// about three milliseconds of CPU per build over decoding a spec in a
// fully initialised cairn.
//
// Encoding and decoding are plain Go and build everywhere; only running a
// program needs Linux.
package initprog

// Arg0 is the argv[0] of a process that is a sandbox init.
const Arg0 = "cairn-sandbox-init"

// AnyErrno as an Op's OKErrno tolerates every error.
const AnyErrno = ^uint64(0)

// An ArgKind says how an Arg becomes a system call argument.
type ArgKind uint8

const (
	Imm   ArgKind = iota // the integer Imm
	Bytes                // a pointer to Data (nil if empty)
	Ref                  // the result of op Ref, OR Imm
	List                 // a pointer to a NULL-terminated array of pointers to List's elements
	Fprog                // a pointer to a struct sock_fprog over Data (BPF instructions, 8 bytes each)
)

// An Arg is one argument of an Op.
type Arg struct {
	Kind ArgKind
	Imm  uint64
	Data []byte
	Ref  int
	List [][]byte
}

// Int returns an immediate argument.
func Int(v uint64) Arg { return Arg{Kind: Imm, Imm: v} }

// Str returns a pointer to s with a NUL appended (a C string).
func Str(s string) Arg { return Arg{Kind: Bytes, Data: append([]byte(s), 0)} }

// Blob returns a pointer to a copy of b.
func Blob(b []byte) Arg { return Arg{Kind: Bytes, Data: append([]byte(nil), b...)} }

// Result returns the result of op i, ORed with or.
func Result(i int, or uint64) Arg { return Arg{Kind: Ref, Ref: i, Imm: or} }

// Strs returns a NULL-terminated array of C strings (argv, envp).
func Strs(ss []string) Arg {
	l := make([][]byte, len(ss))
	for i, s := range ss {
		l[i] = append([]byte(s), 0)
	}
	return Arg{Kind: List, List: l}
}

// Filter returns a pointer to a struct sock_fprog whose instructions
// are insns (struct sock_filter, 8 bytes each).
func Filter(insns []byte) Arg { return Arg{Kind: Fprog, Data: append([]byte(nil), insns...)} }

// An Op is one system call. A failure whose errno is OKErrno (or any
// failure, for AnyErrno) is tolerated and skips the next Skip ops;
// any other failure ends the program.
type Op struct {
	Nr      uint64
	Args    []Arg // at most 6
	OKErrno uint64
	Skip    int
}

// A Program is what an init runs. Its last op is normally execve (or
// exit_group, for a probe): an init that runs out of ops reports
// failure index len(Ops).
type Program struct {
	Ops []Op
}

const magic = "cairnsi1"

// Encode returns p's wire form (what the init reads from fd 3).
func (p *Program) Encode() []byte {
	b := []byte(magic)
	b = putU32(b, uint32(len(p.Ops)))
	for _, op := range p.Ops {
		b = putU64(b, op.Nr)
		b = putU64(b, op.OKErrno)
		b = putU32(b, uint32(op.Skip))
		b = append(b, byte(len(op.Args)))
		for _, a := range op.Args {
			b = append(b, byte(a.Kind))
			b = putU64(b, a.Imm)
			switch a.Kind {
			case Bytes, Fprog:
				b = putU32(b, uint32(len(a.Data)))
				b = append(b, a.Data...)
			case Ref:
				b = putU32(b, uint32(a.Ref))
			case List:
				b = putU32(b, uint32(len(a.List)))
				for _, e := range a.List {
					b = putU32(b, uint32(len(e)))
					b = append(b, e...)
				}
			}
		}
	}
	return b
}

// Decode parses Encode's output. It reports false for anything else,
// including references to ops that do not come earlier.
func Decode(b []byte) (*Program, bool) {
	d := decoder{b: b}
	if string(d.bytes(len(magic))) != magic {
		return nil, false
	}
	n := int(d.u32())
	if d.bad || n > len(d.b) { // every op takes more than a byte
		return nil, false
	}
	p := &Program{Ops: make([]Op, 0, n)}
	for i := 0; i < n && !d.bad; i++ {
		op := Op{Nr: d.u64(), OKErrno: d.u64(), Skip: int(d.u32())}
		na := int(d.u8())
		if na > 6 || op.Skip < 0 {
			return nil, false
		}
		for j := 0; j < na && !d.bad; j++ {
			a := Arg{Kind: ArgKind(d.u8()), Imm: d.u64()}
			switch a.Kind {
			case Imm:
			case Bytes, Fprog:
				a.Data = d.bytes(int(d.u32()))
				if a.Kind == Fprog && (len(a.Data)%8 != 0 || len(a.Data)/8 > 0xffff) {
					return nil, false
				}
			case Ref:
				a.Ref = int(d.u32())
				if a.Ref >= i {
					return nil, false
				}
			case List:
				m := int(d.u32())
				if m > len(d.b) {
					return nil, false
				}
				for k := 0; k < m && !d.bad; k++ {
					e := d.bytes(int(d.u32()))
					if len(e) == 0 || e[len(e)-1] != 0 {
						return nil, false
					}
					a.List = append(a.List, e)
				}
			default:
				return nil, false
			}
			op.Args = append(op.Args, a)
		}
		p.Ops = append(p.Ops, op)
	}
	if d.bad || len(d.b) != 0 {
		return nil, false
	}
	return p, true
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.bad = true
		d.b = nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	v := d.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u32() uint32 {
	v := d.bytes(4)
	if v == nil {
		return 0
	}
	return uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24
}

func (d *decoder) u64() uint64 {
	lo := uint64(d.u32())
	return lo | uint64(d.u32())<<32
}

func putU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func putU64(b []byte, v uint64) []byte { return putU32(putU32(b, uint32(v)), uint32(v>>32)) }

// Failure is what an init reports on fd 4: the index of the op that
// failed (BadProgram if the program could not be read) and its errno.
type Failure struct {
	Op    int
	Errno uint32
}

// BadProgram is Failure.Op when the init could not read its program.
const BadProgram = -1

// EncodeFailure and DecodeFailure give a Failure's wire form (8 bytes).
func EncodeFailure(f Failure) []byte {
	return putU32(putU32(nil, uint32(int32(f.Op))), f.Errno)
}

// DecodeFailure parses EncodeFailure's output.
func DecodeFailure(b []byte) (Failure, bool) {
	if len(b) != 8 {
		return Failure{}, false
	}
	d := decoder{b: b}
	return Failure{Op: int(int32(d.u32())), Errno: d.u32()}, true
}
