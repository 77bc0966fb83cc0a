package derivation

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrFormat is matched (with errors.Is) by every error from Parse about
// malformed input.
var ErrFormat = errors.New("bad derivation")

// FormatError reports malformed ATerm at a byte offset.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("parse derivation at byte %d: %s", e.Offset, e.Msg)
}

// Is reports whether target is ErrFormat.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

type parser struct {
	s   []byte
	pos int
}

func (p *parser) fail(format string, args ...any) error {
	return &FormatError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expect(lit string) error {
	if !bytes.HasPrefix(p.s[p.pos:], []byte(lit)) {
		return p.fail("expected string '%s'", lit)
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) str() (string, error) {
	if err := p.expect(`"`); err != nil {
		return "", err
	}
	var b []byte
	for {
		if p.pos >= len(p.s) {
			return "", p.fail("unterminated string")
		}
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			if p.pos >= len(p.s) {
				return "", p.fail("unterminated string")
			}
			c = p.s[p.pos]
			p.pos++
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
		}
		b = append(b, c)
	}
}

func (p *parser) path() (string, error) {
	at := p.pos
	s, err := p.str()
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "/") {
		p.pos = at
		return "", p.fail("bad path '%s' in derivation", s)
	}
	return s, nil
}

// list parses the elements of a list whose '[' was consumed, up to and
// including the ']'. Elements are separated by single commas.
func (p *parser) list(elem func() error) error {
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if p.pos >= len(p.s) {
			return p.fail("unterminated list")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.fail("expected ',' or ']'")
		}
	}
}

// Parse parses a .drv file. Like Nix it tolerates lists out of order
// (they are sets and maps), but unlike Nix 2.8 it rejects duplicate keys,
// stray commas and trailing bytes. Fixed output
// hashes are normalised to hex. For Nix-written input, Bytes gives back
// exactly data.
func Parse(data []byte) (*Derivation, error) {
	p := &parser{s: data}
	d := &Derivation{
		Outputs:   map[string]Output{},
		InputDrvs: map[string][]string{},
		Env:       map[string]string{},
	}
	if bytes.HasPrefix(data, []byte("DrvWithVersion(")) {
		return nil, p.fail("versioned derivations (DrvWithVersion) are not supported by Nix 2.8")
	}
	if err := p.expect("Derive(["); err != nil {
		return nil, err
	}
	err := p.list(func() error {
		if err := p.expect("("); err != nil {
			return err
		}
		at := p.pos
		id, err := p.str()
		if err != nil {
			return err
		}
		var o Output
		for _, f := range []*string{&o.Path, &o.HashAlgo, &o.Hash} {
			if err := p.expect(","); err != nil {
				return err
			}
			if *f, err = p.str(); err != nil {
				return err
			}
		}
		if err := p.expect(")"); err != nil {
			return err
		}
		if _, dup := d.Outputs[id]; dup {
			p.pos = at
			return p.fail("duplicate output '%s'", id)
		}
		d.Outputs[id] = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := p.expect(",["); err != nil {
		return nil, err
	}
	err = p.list(func() error {
		if err := p.expect("("); err != nil {
			return err
		}
		at := p.pos
		drv, err := p.path()
		if err != nil {
			return err
		}
		if err := p.expect(",["); err != nil {
			return err
		}
		var outs []string
		if err := p.list(func() error {
			s, err := p.str()
			outs = append(outs, s)
			return err
		}); err != nil {
			return err
		}
		if err := p.expect(")"); err != nil {
			return err
		}
		if _, dup := d.InputDrvs[drv]; dup {
			p.pos = at
			return p.fail("duplicate input derivation '%s'", drv)
		}
		sort.Strings(outs)
		d.InputDrvs[drv] = slices.Compact(outs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := p.expect(",["); err != nil {
		return nil, err
	}
	if err := p.list(func() error {
		s, err := p.path()
		d.InputSrcs = append(d.InputSrcs, s)
		return err
	}); err != nil {
		return nil, err
	}
	sort.Strings(d.InputSrcs)
	d.InputSrcs = slices.Compact(d.InputSrcs)
	if err := p.expect(","); err != nil {
		return nil, err
	}
	if d.Platform, err = p.str(); err != nil {
		return nil, err
	}
	if err := p.expect(","); err != nil {
		return nil, err
	}
	if d.Builder, err = p.str(); err != nil {
		return nil, err
	}
	if err := p.expect(",["); err != nil {
		return nil, err
	}
	if err := p.list(func() error {
		s, err := p.str()
		d.Args = append(d.Args, s)
		return err
	}); err != nil {
		return nil, err
	}
	if err := p.expect(",["); err != nil {
		return nil, err
	}
	if err := p.list(func() error {
		if err := p.expect("("); err != nil {
			return err
		}
		at := p.pos
		k, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(","); err != nil {
			return err
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		if _, dup := d.Env[k]; dup {
			p.pos = at
			return p.fail("duplicate environment variable '%s'", k)
		}
		d.Env[k] = v
		return p.expect(")")
	}); err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if p.pos != len(p.s) {
		return nil, p.fail("trailing data after derivation")
	}
	if err := d.validateOutputs(); err != nil {
		return nil, &FormatError{Offset: 0, Msg: err.Error()}
	}
	return d, nil
}

// Bytes returns the ATerm of d exactly as Nix 2.8 writes it.
func (d *Derivation) Bytes() []byte {
	return d.unparse(false, nil)
}

// String returns the ATerm of d.
func (d *Derivation) String() string { return string(d.Bytes()) }

// unparse prints d. With mask, output paths and the env entries named
// after outputs are empty. With inputs, they replace inputDrvs (keys are
// hashes of the input derivations).
func (d *Derivation) unparse(mask bool, inputs map[string][]string) []byte {
	var b bytes.Buffer
	b.WriteString("Derive([")
	for i, id := range sortedKeys(d.Outputs) {
		o := d.Outputs[id]
		if i > 0 {
			b.WriteByte(',')
		}
		path := o.Path
		if mask {
			path = ""
		}
		b.WriteByte('(')
		raw(&b, id)
		b.WriteByte(',')
		raw(&b, path)
		b.WriteByte(',')
		raw(&b, o.HashAlgo)
		b.WriteByte(',')
		raw(&b, o.Hash)
		b.WriteByte(')')
	}
	b.WriteString("],[")
	if inputs == nil {
		inputs = d.InputDrvs
	}
	for i, p := range sortedKeys(inputs) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		raw(&b, p)
		b.WriteString(",[")
		outs := slices.Clone(inputs[p])
		sort.Strings(outs)
		for j, o := range slices.Compact(outs) {
			if j > 0 {
				b.WriteByte(',')
			}
			raw(&b, o)
		}
		b.WriteString("])")
	}
	b.WriteString("],[")
	srcs := slices.Clone(d.InputSrcs)
	sort.Strings(srcs)
	for i, s := range slices.Compact(srcs) {
		if i > 0 {
			b.WriteByte(',')
		}
		raw(&b, s)
	}
	b.WriteString("],")
	raw(&b, d.Platform)
	b.WriteByte(',')
	quoted(&b, d.Builder)
	b.WriteString(",[")
	for i, a := range d.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		quoted(&b, a)
	}
	b.WriteString("],[")
	for i, k := range sortedKeys(d.Env) {
		if i > 0 {
			b.WriteByte(',')
		}
		v := d.Env[k]
		if _, isOut := d.Outputs[k]; mask && isOut {
			v = ""
		}
		b.WriteByte('(')
		quoted(&b, k)
		b.WriteByte(',')
		quoted(&b, v)
		b.WriteByte(')')
	}
	b.WriteString("])")
	return b.Bytes()
}

// raw writes s in quotes without escaping, as Nix 2.8's printUnquotedString.
func raw(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

// quoted writes s in quotes with Nix's escapes.
func quoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
