package eval

import (
	"io"

	"cairn/internal/compat/nixhash"
)

func (ev *Evaluator) hashAlgo(v Value, ctx string) (nixhash.Algo, error) {
	s, err := ev.forceStringNoCtx(v, 0, ctx)
	if err != nil {
		return 0, err
	}
	a, err := nixhash.ParseAlgo(s)
	if err != nil {
		e := ev.ferr("unknown hash algorithm '%s', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'", s)
		e.Usage = true
		return 0, e
	}
	return a, nil
}

func hashBuiltins() []Primop {
	return []Primop{
		{Name: "__hashString", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			algo, err := ev.hashAlgo(a[0], "while evaluating the first argument passed to builtins.hashString")
			if err != nil {
				return Value{}, err
			}
			s, err := ev.forceString(a[1], 0, "while evaluating the second argument passed to builtins.hashString")
			if err != nil {
				return Value{}, err
			}
			return String(nixhash.Sum(algo, []byte(s.Str())).Encode(nixhash.Base16, false)), nil
		}},
		{Name: "__hashFile", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			algo, err := ev.hashAlgo(a[0], "while evaluating the first argument passed to builtins.hashFile")
			if err != nil {
				return Value{}, err
			}
			pth, err := ev.realisePath(a[1])
			if err != nil {
				return Value{}, err
			}
			b, err := ev.readFile(pth)
			if err != nil {
				return Value{}, err
			}
			return String(nixhash.Sum(algo, b).Encode(nixhash.Base16, false)), nil
		}},
		{Name: "__convertHash", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceAttrs(a[0], 0, "while evaluating the first argument passed to builtins.convertHash")
			if err != nil {
				return Value{}, err
			}
			ha, ok := s.Get(ev.syms.intern("hash"))
			if !ok {
				return Value{}, ev.errorf(errType, 0, "attribute 'hash' missing").withTrace(0, "while locating the attribute 'hash'")
			}
			h, err := ev.forceStringNoCtx(ha.Val, 0, "while evaluating the attribute 'hash'")
			if err != nil {
				return Value{}, err
			}
			var algo nixhash.Algo
			if aa, ok := s.Get(ev.syms.intern("hashAlgo")); ok {
				if algo, err = ev.hashAlgo(aa.Val, "while evaluating the attribute 'hashAlgo'"); err != nil {
					return Value{}, err
				}
			}
			fa, ok := s.Get(ev.syms.intern("toHashFormat"))
			if !ok {
				return Value{}, ev.errorf(errType, 0, "attribute 'toHashFormat' missing").withTrace(0, "while locating the attribute 'toHashFormat'")
			}
			f, err := ev.forceStringNoCtx(fa.Val, 0, "while evaluating the attribute 'toHashFormat'")
			if err != nil {
				return Value{}, err
			}
			if f == "base32" {
				io.WriteString(ev.opts.Trace, "warning: \"base32\" is a deprecated alias for hash format \"nix32\".\n")
			}
			enc, err := nixhash.ParseEncoding(f)
			if err != nil {
				return Value{}, ev.ferr("unknown hash format '%s', expect 'base16', 'base32', 'base64', or 'sri'", f)
			}
			hv, err := nixhash.ParseAny(h, algo)
			if err != nil {
				return Value{}, ev.ferr("%s", err.Error())
			}
			return String(hv.Encode(enc, enc == nixhash.SRI)), nil
		}},
	}
}
