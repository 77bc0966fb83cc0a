package parser_test

import (
	"bufio"
	"os"
	"testing"

	"cairn/internal/lang/ast"
)

func TestDumpCases(t *testing.T) {
	f := os.Getenv("CAIRN_CASES")
	if f == "" {
		t.Skip("SKIPPING: CAIRN_CASES not set")
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(fh)
	out, _ := os.Create(f + ".out")
	for sc.Scan() {
		e, err := parseStdin([]byte(sc.Text()))
		if err != nil {
			out.WriteString("ERR " + err.Error() + "\n")
			continue
		}
		out.WriteString(ast.Show(e) + "\n")
	}
}
