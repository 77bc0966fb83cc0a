package eval

import (
	"errors"
	"strconv"
	"strings"

	"cairn/internal/eval/spell"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// FormatError renders err as Nix prints it on stderr (showErrorInfo):
// "error:" with a 7-space hanging indent, trace frames outermost first,
// code snippets, duplicate-frame folding and "Did you mean".
func (ev *Evaluator) FormatError(err error, showTrace bool) string {
	return FormatError(ev.fset, err, showTrace)
}

// FormatError renders err using positions from fset. A failed parse
// prints the error Nix reports and then, in the same format, the further
// errors the parser found (Nix stops at the first).
func FormatError(fset *token.FileSet, err error, showTrace bool) string {
	var ee *EvalError
	if !errors.As(err, &ee) {
		return indentBlock("error: ", err.Error()) + "\n"
	}
	s := formatInfo(fset, "error: ", ee, showTrace, false)
	for _, m := range ee.more {
		s += formatInfo(fset, "error: ", m, false, false)
	}
	return s
}

// formatInfo is CppNix's showErrorInfo for any level prefix ("error: ",
// "warning: ", "evaluation warning: ").
func formatInfo(fset *token.FileSet, prefix string, ee *EvalError, showTrace, noIndent bool) string {
	var oss strings.Builder
	count := 0
	posMaybe := func(indent string, p Pos) bool {
		if p == token.NoPos {
			return false
		}
		pos := fset.Position(p)
		if !pos.IsValid() {
			return false
		}
		oss.WriteString(indent + "at " + pos.String() + ":")
		var src []byte
		if f := fset.File(p); f != nil {
			src = f.Source()
		}
		if src != nil {
			oss.WriteString(scanner.CodeLines("", pos, src))
			oss.WriteString("\n")
		}
		return true
	}
	printTrace := func(f Frame) {
		oss.WriteString("\n… " + f.Msg + "\n")
		if posMaybe("  ", f.Pos) {
			count++
		}
	}
	if len(ee.Frames) > 0 {
		seen := map[Frame]bool{}
		var skipped []Frame
		flush := func() {
			if len(skipped) == 0 {
				return
			}
			if len(skipped) <= 5 {
				for _, f := range skipped {
					printTrace(f)
				}
			} else {
				// CppNix clears a by-value copy of its seen set here, so
				// frames stay "seen" for the rest of the trace.
				oss.WriteString("\n(" + strconv.Itoa(len(skipped)) + " duplicate frames omitted)\n")
			}
			skipped = skipped[:0]
		}
		truncate := false
		for i := len(ee.Frames) - 1; i >= 0; i-- {
			f := ee.Frames[i]
			if f.Msg == "" {
				continue
			}
			if !showTrace && count > 3 {
				truncate = true
			}
			if !truncate || f.Always {
				k := Frame{Pos: f.Pos, Msg: f.Msg}
				if seen[k] {
					skipped = append(skipped, f)
					continue
				}
				seen[k] = true
				flush()
				count++
				printTrace(f)
			}
		}
		flush()
		if truncate {
			oss.WriteString("\n(stack trace truncated; use '--show-trace' to show the full, detailed trace)\n")
		}
		oss.WriteString("\n" + prefix)
	}
	oss.WriteString(ee.Msg + "\n")
	posMaybe("", ee.Pos)
	if s := spell.Format(ee.Suggestions); s != "" {
		oss.WriteString(s + "\n")
	}
	body := strings.TrimRight(oss.String(), " \t\n\r")
	if noIndent {
		return filterANSI(strings.TrimSuffix(prefix, " ") + body + "\n")
	}
	return filterANSI(indentBlock(prefix, body) + "\n")
}

// filterANSI removes ANSI CSI escape sequences (Nix strips them when
// stderr is not a terminal, after chomping lines).
func filterANSI(s string) string {
	if strings.IndexByte(s, 0x1b) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// indentBlock is CppNix's indent(prefix, spaces, chomp(s)).
func indentBlock(prefix, s string) string {
	rest := strings.Repeat(" ", len(prefix))
	var b strings.Builder
	first := true
	for {
		end := strings.IndexByte(s, '\n')
		if !first {
			b.WriteByte('\n')
		}
		ind := rest
		if first {
			ind = prefix
		}
		line := s
		if end >= 0 {
			line = s[:end]
		}
		b.WriteString(strings.TrimRight(ind+line, " \t\n\r"))
		first = false
		if end < 0 {
			break
		}
		s = s[end+1:]
	}
	return b.String()
}
