package eval

import (
	"errors"
	"io"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// parse parses src as file name with relative paths against baseDir.
// Parse errors become *EvalError at the reported position.
func (ev *Evaluator) parse(src []byte, name, baseDir string) (ast.Expr, error) {
	file := ev.fset.AddFile(name, len(src))
	file.SetSource(src)
	home := ""
	if ev.opts.Getenv != nil {
		home, _ = ev.opts.Getenv("HOME")
	}
	e, err := parser.Parse(file, src, parser.Options{BaseDir: baseDir, HomeDir: home, Pure: ev.opts.Pure,
		PipeOperators: ev.hasFeature("pipe-operators"),
		Lints:         ev.opts.Lints,
		Warn:          func(_ Pos, msg string) { io.WriteString(ev.opts.Trace, "warning: "+msg+"\n") },
		Diagnose: func(p Pos, msg string) {
			io.WriteString(ev.opts.Trace, formatInfo(ev.fset, "warning: ", &EvalError{Msg: msg, Pos: p}, false, false))
		}})
	if err != nil {
		var el scanner.ErrorList
		if errors.As(err, &el) && len(el) > 0 {
			ee := parseError(file, el[0])
			for _, pe := range el[1:] {
				ee.more = append(ee.more, parseError(file, pe))
			}
			return nil, ee
		}
		return nil, &EvalError{Msg: err.Error(), parse: true}
	}
	return e, nil
}

// parseError converts a parse error in file.
func parseError(file *token.File, pe *scanner.Error) *EvalError {
	ee := &EvalError{Msg: pe.Msg, kind: errGeneric, parse: true}
	if pe.Pos.IsValid() && pe.Pos.Offset <= file.Size() {
		ee.Pos = file.Pos(pe.Pos.Offset)
	}
	return ee
}

// ParseString parses src (named name, e.g. "«stdin»" or a file path) into
// the evaluator's file set.
func (ev *Evaluator) ParseString(src []byte, name, baseDir string) (ast.Expr, error) {
	return ev.parse(src, name, baseDir)
}
