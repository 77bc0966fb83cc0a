package eval

import "testing"

// TestParseErrorsRendered checks that a failed parse prints the error Nix
// reports first, then the parser's further errors in the same format.
func TestParseErrorsRendered(t *testing.T) {
	_, err := evalToString(t, Options{}, "{\n  a = 1 +;\n  b = 2;\n  c = if;\n}")
	want := `error: syntax error, unexpected ';'
       at «string»:2:10:
            1| {
            2|   a = 1 +;
             |          ^
            3|   b = 2;
error: syntax error, unexpected ';'
       at «string»:4:9:
            3|   b = 2;
            4|   c = if;
             |         ^
            5| }
`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
