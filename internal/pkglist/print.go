package pkglist

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"cairn/internal/eval"
)

// WriteTable prints rows as nix-env's printTable: columns padded to the
// widest entry (in bytes) plus two spaces, the last column unpadded,
// newlines inside entries replaced by spaces.
func WriteTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, r := range rows {
		for len(widths) < len(r) {
			widths = append(widths, 0)
		}
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	bw := bufio.NewWriter(w)
	for _, r := range rows {
		for i, c := range r {
			bw.WriteString(strings.ReplaceAll(c, "\n", " "))
			if i < len(widths)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// DrvName splits a derivation name as Nix's DrvName: the version starts
// after the first dash that is followed by a non-letter.
func DrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		c := s[i+1]
		if s[i] == '-' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// JSONOptions selects the optional parts of WriteJSON's objects.
type JSONOptions struct {
	OutPath bool // --out-path: output paths instead of null
	Meta    bool // --meta: each package's valid meta attributes
}

// WriteJSON prints pkgs as nix-env -q --json of Nix 2.8: one indented
// object keyed by attribute path with name, pname, version, system,
// outputName and outputs (and meta), then a newline. Packages that fail
// an assertion are left out.
func WriteJSON(ev *eval.Evaluator, w io.Writer, pkgs []*Package, o JSONOptions) (skipped []error, err error) {
	bw := bufio.NewWriter(w)
	bw.WriteByte('{')
	first := true
	for _, p := range pkgs {
		if p.failed {
			continue
		}
		obj, err := p.jsonObject(ev, o)
		if IsAssertion(err) {
			skipped = append(skipped, err)
			continue
		}
		if err != nil {
			return skipped, withContext(err, p.Name)
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		bw.WriteString("\n  ")
		writeJSONString(bw, p.AttrPath)
		bw.WriteString(": ")
		bw.Write(obj)
	}
	if !first {
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return skipped, bw.Flush()
}

// jsonObject renders one package at depth 1 of the indented document. It
// evaluates everything before writing, so a failing package leaves no
// partial output (Nix's JSON writer would; nix-env output is then broken).
func (p *Package) jsonObject(ev *eval.Evaluator, o JSONOptions) ([]byte, error) {
	var b bytes.Buffer
	name, version := DrvName(p.Name)
	system, err := p.System(ev)
	if err != nil {
		return nil, err
	}
	outputName, err := p.OutputName(ev)
	if err != nil {
		return nil, err
	}
	outs, err := p.Outputs(ev, o.OutPath)
	if err != nil {
		return nil, err
	}
	b.WriteString("{")
	for _, kv := range [][2]string{{"name", p.Name}, {"pname", name}, {"version", version}, {"system", system}, {"outputName", outputName}} {
		b.WriteString("\n    ")
		writeJSONString(&b, kv[0])
		b.WriteString(": ")
		writeJSONString(&b, kv[1])
		b.WriteByte(',')
	}
	b.WriteString("\n    \"outputs\": {")
	for i, out := range outs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		writeJSONString(&b, out.Name)
		b.WriteString(": ")
		if o.OutPath {
			writeJSONString(&b, out.Path)
		} else {
			b.WriteString("null")
		}
	}
	if len(outs) > 0 {
		b.WriteString("\n    ")
	}
	b.WriteString("}")
	if o.Meta {
		if err := p.writeMeta(ev, &b); err != nil {
			return nil, err
		}
	}
	b.WriteString("\n  }")
	return b.Bytes(), nil
}

func (p *Package) writeMeta(ev *eval.Evaluator, b *bytes.Buffer) error {
	b.WriteString(",\n    \"meta\": {")
	m, err := p.Meta(ev)
	if err != nil {
		return err
	}
	var names []string
	if m != nil {
		names = ev.AttrNames(m)
	}
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		writeJSONString(b, n)
		b.WriteString(": ")
		v, ok, err := p.MetaValue(ev, n)
		if err != nil {
			return err
		}
		if !ok {
			b.WriteString("null")
			continue
		}
		var compact bytes.Buffer
		if err := ev.WriteJSON(&compact, v, true); err != nil {
			return err
		}
		indentJSON(b, compact.Bytes(), 3)
	}
	if len(names) > 0 {
		b.WriteString("\n    ")
	}
	b.WriteString("}")
	return nil
}

// indentJSON copies the compact JSON src to b in the layout of Nix 2.8's
// indenting JSON writer, starting at the given depth: a newline and two
// spaces per level before each element and before a closing bracket, ": "
// after keys, and "{}" / "[]" when empty.
func indentJSON(b *bytes.Buffer, src []byte, depth int) {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			b.WriteByte(c)
			switch c {
			case '\\':
				i++
				b.WriteByte(src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			b.WriteByte(c)
		case '{', '[':
			b.WriteByte(c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				i++
				b.WriteByte(src[i])
				continue
			}
			depth++
			newline(b, depth)
		case '}', ']':
			depth--
			newline(b, depth)
			b.WriteByte(c)
		case ',':
			b.WriteByte(c)
			newline(b, depth)
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(c)
		}
	}
}

func newline(b *bytes.Buffer, depth int) {
	b.WriteByte('\n')
	b.WriteString(strings.Repeat("  ", depth))
}

// writeJSONString quotes s as Nix 2.8's toJSON: \" \\ \n \r \t, other
// control bytes as \u00XX, everything else (UTF-8 included) raw.
func writeJSONString(w io.ByteWriter, s string) {
	const hex = "0123456789abcdef"
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			w.WriteByte('\\')
			w.WriteByte(c)
		case c == '\n':
			w.WriteByte('\\')
			w.WriteByte('n')
		case c == '\r':
			w.WriteByte('\\')
			w.WriteByte('r')
		case c == '\t':
			w.WriteByte('\\')
			w.WriteByte('t')
		case c < 0x20:
			for _, x := range []byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&15]} {
				w.WriteByte(x)
			}
		default:
			w.WriteByte(c)
		}
	}
	w.WriteByte('"')
}
