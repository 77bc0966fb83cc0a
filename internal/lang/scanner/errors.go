package scanner

import (
	"fmt"
	"sort"
	"strings"

	"cairn/internal/lang/token"
)

// Error is a positioned parse error. Msg is the text Nix prints after
// "error: ", e.g. "syntax error, unexpected '}', expecting ';'".
type Error struct {
	Pos token.Position
	Msg string
}

// Error implements the error interface as "file:line:col: msg".
func (e *Error) Error() string {
	if e.Pos.IsValid() {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Msg
}

// ErrorList is a list of parse errors. The parser returns it in the
// order it detected the errors, so the first one is the one Nix reports.
type ErrorList []*Error

// Add appends an error.
func (l *ErrorList) Add(pos token.Position, msg string) {
	*l = append(*l, &Error{pos, msg})
}

// Len, Less and Swap implement sort.Interface (by position, then message).
func (l ErrorList) Len() int      { return len(l) }
func (l ErrorList) Swap(i, j int) { l[i], l[j] = l[j], l[i] }
func (l ErrorList) Less(i, j int) bool {
	a, b := &l[i].Pos, &l[j].Pos
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	if a.Offset != b.Offset {
		return a.Offset < b.Offset
	}
	return l[i].Msg < l[j].Msg
}

// Sort sorts the list by position.
func (l ErrorList) Sort() { sort.Sort(l) }

// Error returns the first error and a count of the others.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Err returns nil for an empty list, else the list.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Format renders e the way Nix prints an error without a trace:
//
//	error: <msg>
//	       at «stdin»:3:3:
//	            2|   y = 456;
//	            3|   x = 789;
//	             |   ^
//	            4| }
//
// src is the text of the file e.Pos refers to (nil: no code lines).
// The result ends with a newline.
func (e *Error) Format(src []byte) string {
	var b strings.Builder
	b.WriteString(indentLines("error: ", "       ", e.Msg))
	b.WriteByte('\n')
	if e.Pos.IsValid() {
		b.WriteString("       at " + e.Pos.String() + ":")
		if src != nil {
			b.WriteString(CodeLines("       ", e.Pos, src))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// indentLines prefixes the first line of s with first and the others
// with rest, and removes trailing whitespace from every line (Nix's
// indent + chomp in showErrorInfo).
func indentLines(first, rest, s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.TrimRight(rest+line, " \t\r\n"))
		} else {
			b.WriteString(strings.TrimRight(first+line, " \t\r\n"))
		}
	}
	return b.String()
}

// CodeLines renders the source lines around pos as Nix's printCodeLines
// does: the previous line, the line of pos with a caret under the column,
// and the next line, each on its own line starting with "\n" + indent,
// with trailing whitespace removed. Lines are split at "\n", "\r\n" and
// "\r". It returns "" if pos is not within src.
func CodeLines(indent string, pos token.Position, src []byte) string {
	if pos.Line <= 0 {
		return ""
	}
	// Nix reads stdin and string sources («stdin», «string») as C strings.
	if strings.HasPrefix(pos.Filename, "«") {
		if i := indexNUL(src); i >= 0 {
			src = src[:i]
		}
	}
	lines := splitLines(src, pos.Line+1)
	var b strings.Builder
	emit := func(s string) {
		b.WriteByte('\n')
		b.WriteString(strings.TrimRight(indent+s, " \t\r\n"))
	}
	if pos.Line-2 >= 0 && pos.Line-2 < len(lines) {
		emit(fmt.Sprintf(" %5d| %s", pos.Line-1, lines[pos.Line-2]))
	}
	if pos.Line-1 < len(lines) {
		emit(fmt.Sprintf(" %5d| %s", pos.Line, lines[pos.Line-1]))
		if pos.Column > 0 {
			emit("      |" + strings.Repeat(" ", pos.Column) + "^")
		}
	}
	if pos.Line < len(lines) {
		emit(fmt.Sprintf(" %5d| %s", pos.Line+1, lines[pos.Line]))
	}
	return b.String()
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// splitLines returns up to max lines of src, split as Nix's
// Pos::LinesIterator does. An empty trailing line after a final line
// break counts as a line.
func splitLines(src []byte, max int) []string {
	var lines []string
	start := 0
	for i := 0; i < len(src) && len(lines) < max; i++ {
		switch src[i] {
		case '\n':
			lines = append(lines, string(src[start:i]))
			start = i + 1
		case '\r':
			lines = append(lines, string(src[start:i]))
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if len(lines) < max {
		lines = append(lines, string(src[start:]))
	}
	return lines
}
