package cli

import (
	"reflect"
	"strings"
	"testing"

	"cairn/internal/pkglist"
)

func TestExpandShortFlags(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"-qaP", "-q -a -P"},
		{"-qa -P --json", "-q -a -P --json"},
		{"-j3", "-j 3"},
		{"-I/x -f f.nix", "-I /x -f f.nix"},
		{"-- -qa", "-- -qa"},
		{"-", "-"},
		{"-1a", "-1a"},
	} {
		if got := strings.Join(expandShortFlags(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("expandShortFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnvFlags(t *testing.T) {
	f := &Factory{Prog: "cairn env"}
	var got *EnvOptions
	err := newEnvCmd(f, func(o *EnvOptions) error { got = o; return nil })(strings.Fields(
		"-f t.nix -qaPA xs --description --system-filter s --compat 2.8 --json --meta foo bar-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.File != "t.nix" || !got.Query || !got.Available || got.AttrPath != "xs" || got.SystemFilter != "s" ||
		!got.JSON || !got.Meta || got.Eval.Compat != "2.8" || !reflect.DeepEqual(got.Selectors, []string{"foo", "bar-1"}) ||
		got.Columns != (pkglist.Columns{AttrPath: true, Name: true, Description: true}) {
		t.Errorf("parsed %+v", got)
	}
	if err := newEnvCmd(f, func(*EnvOptions) error { return nil })([]string{"-qa", "--bogus"}); err == nil {
		t.Errorf("unknown flag accepted")
	}
	sels, err := parseSelectors([]string{"hel+o", "*-2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !sels[0].name.MatchString("hello") || sels[0].name.MatchString("xhello") || sels[1].name != nil || sels[1].version != "2.0" {
		t.Errorf("selectors %+v", sels)
	}
}
