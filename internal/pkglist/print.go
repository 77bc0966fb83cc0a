package pkglist

import (
	"bufio"
	"bytes"
	"fmt"
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
	// Log receives nix-env's messages about invalid meta attributes
	// (printed as null); nil discards them.
	Log io.Writer
}

// WriteJSON prints pkgs as nix-env -q --json of Nix 2.8: one indented
// object keyed by attribute path with name, pname, version, system,
// outputName and outputs (and meta), then a newline. Output is written as
// Nix's streaming JSON writer does: when a package fails an assertion
// half-way, the objects already opened are closed as its destructors close
// them ("meta": {} or a dangling "key": ), and the package is skipped.
func WriteJSON(ev *eval.Evaluator, w io.Writer, pkgs []*Package, o JSONOptions) (skipped []error, err error) {
	bw := bufio.NewWriter(w)
	j := &jsonWriter{w: bw}
	j.open('{', '}')
	for _, p := range pkgs {
		if p.failed {
			continue
		}
		err := p.writeJSON(ev, j, o)
		for len(j.stack) > 1 {
			j.close()
		}
		if IsAssertion(err) {
			skipped = append(skipped, err)
			continue
		}
		if err != nil {
			j.close() // as Nix's destructors do while the error unwinds
			bw.Flush()
			return skipped, withContext(err, p.Name)
		}
	}
	j.close()
	bw.WriteByte('\n')
	return skipped, bw.Flush()
}

// jsonWriter is Nix 2.8's indenting JSONWriter (libutil/json.cc).
type jsonWriter struct {
	w     *bufio.Writer
	depth int
	stack []jsonLevel
}

type jsonLevel struct {
	first  bool
	closer byte
}

func (j *jsonWriter) indent() {
	j.w.WriteByte('\n')
	j.w.WriteString(strings.Repeat("  ", j.depth))
}

// comma starts an element of the innermost container.
func (j *jsonWriter) comma() {
	top := &j.stack[len(j.stack)-1]
	if top.first {
		top.first = false
	} else {
		j.w.WriteByte(',')
	}
	j.indent()
}

func (j *jsonWriter) open(c, closer byte) {
	j.depth++
	j.w.WriteByte(c)
	j.stack = append(j.stack, jsonLevel{first: true, closer: closer})
}

func (j *jsonWriter) close() {
	top := j.stack[len(j.stack)-1]
	j.stack = j.stack[:len(j.stack)-1]
	j.depth--
	if !top.first {
		j.indent()
	}
	j.w.WriteByte(top.closer)
}

// key writes the comma, indentation and "key": of an object member.
func (j *jsonWriter) key(k string) {
	j.comma()
	writeJSONString(j.w, k)
	j.w.WriteString(": ")
}

func (j *jsonWriter) str(k, v string) {
	j.key(k)
	writeJSONString(j.w, v)
}

// writeJSON is the body of opQuery's queryJSON loop for one package, in
// its order of evaluation and output.
func (p *Package) writeJSON(ev *eval.Evaluator, j *jsonWriter, o JSONOptions) error {
	j.key(p.AttrPath)
	j.open('{', '}')
	name, version := DrvName(p.Name)
	j.str("name", p.Name)
	j.str("pname", name)
	j.str("version", version)
	system, err := p.System(ev)
	if err != nil {
		return err
	}
	j.str("system", system)
	outputName, err := p.OutputName(ev)
	if err != nil {
		return err
	}
	j.str("outputName", outputName)
	outs, err := p.Outputs(ev, o.OutPath)
	if err != nil {
		return err
	}
	j.key("outputs")
	j.open('{', '}')
	for _, out := range outs {
		if o.OutPath {
			j.str(out.Name, out.Path)
		} else {
			j.key(out.Name)
			j.w.WriteString("null")
		}
	}
	j.close()
	if o.Meta {
		j.key("meta")
		j.open('{', '}')
		m, err := p.Meta(ev)
		if err != nil {
			return err
		}
		var names []string
		if m != nil {
			names = ev.AttrNames(m)
		}
		for _, n := range names {
			j.key(n)
			v, ok, err := p.MetaValue(ev, n)
			if err != nil {
				return err
			}
			if !ok {
				if o.Log != nil {
					fmt.Fprintf(o.Log, "derivation '%s' has invalid meta attribute '%s'\n", p.Name, n)
				}
				j.w.WriteString("null")
				continue
			}
			// MetaValue checked and forced the whole value.
			var compact bytes.Buffer
			if err := ev.WriteJSON(&compact, v, true); err != nil {
				return err
			}
			var b bytes.Buffer
			indentJSON(&b, compact.Bytes(), j.depth)
			j.w.Write(b.Bytes())
		}
		j.close()
	}
	j.close()
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
