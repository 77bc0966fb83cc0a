package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parseWith runs a newXCmd parser on the space-separated args and renders
// what runF received with show, or "error: <message>".
func parseWith[O any](t *testing.T, args string, newCmd func(*Factory, func(*O) error) func([]string) error, show func(*O) string) string {
	t.Helper()
	f := &Factory{Prog: "cairn x"}
	var got string
	var words []string
	if args != "" {
		words = strings.Split(args, " ")
	}
	err := newCmd(f, func(o *O) error { got = show(o); return nil })(words)
	if err != nil {
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v is not a usage error", args, err)
		}
		return "error: " + err.Error()
	}
	return got
}

func showStore(c *StoreFlags) string {
	return strings.Join(showEvalFlags(c), " ")
}

func TestStoreAddFlags(t *testing.T) {
	show := func(o *StoreAddOptions) string {
		return fmt.Sprintf("mode=%s name=%s algo=%s dry=%v path=%s %s", o.Mode, o.Name, o.Algo, o.DryRun, strings.Join(o.Paths, ","), showStore(&o.Store))
	}
	tests := []struct{ args, want string }{
		{"dir", "mode=nar name= algo=sha256 dry=false path=dir "},
		{"--mode flat -n foo --hash-algo sha1 f", "mode=flat name=foo algo=sha1 dry=false path=f "},
		{"--dry-run --name x --store /r d", "mode=nar name=x algo=sha256 dry=true path=d set:store=/r"},
		{"--mode git d", "error: unknown file ingestion method 'git' (want flat, nar or text)"},
		{"a b", "mode=nar name= algo=sha256 dry=false path=a,b "},
		{"-n x a b", "error: flag '--name' needs exactly one path to add"},
		{"", "error: expected a path to add"},
		{"--bogus d", "error: unrecognised flag '--bogus'"},
		{"--name", "error: flag '--name' requires 1 argument(s)"},
	}
	for _, tt := range tests {
		newCmd := func(f *Factory, runF func(*StoreAddOptions) error) func([]string) error {
			return newStoreAddCmd(f, "nar", runF)
		}
		if got := parseWith(t, tt.args, newCmd, show); got != tt.want {
			t.Errorf("store add %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

func TestLsFlags(t *testing.T) {
	showLs := func(l LsFlags) string {
		return fmt.Sprintf("R=%v l=%v d=%v json=%v", l.Recursive, l.Long, l.Directory, l.JSON)
	}
	tests := []struct{ args, want string }{
		{"/nix/store/x", "R=false l=false d=false json=false /nix/store/x"},
		{"-lR --json p", "R=true l=true d=false json=true p"},
		{"--recursive --long --directory p", "R=true l=true d=true json=false p"},
		{"-Rx p", "error: unrecognised flag '-Rx'"},
		{"", "error: expected exactly one path"},
	}
	for _, tt := range tests {
		got := parseWith(t, tt.args, newStoreLsCmd, func(o *StoreLsOptions) string { return showLs(o.Ls) + " " + o.Path })
		if got != tt.want {
			t.Errorf("store ls %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	narTests := []struct{ args, want string }{
		{"-R f.nar /", "R=true l=false d=false json=false f.nar /"},
		{"--store /x -l f.nar /a", "R=false l=true d=false json=false f.nar /a"},
		{"f.nar", "error: expected a NAR file and a path inside it"},
	}
	for _, tt := range narTests {
		got := parseWith(t, tt.args, newNarLsCmd, func(o *NarLsOptions) string { return showLs(o.Ls) + " " + o.NarFile + " " + o.Path })
		if got != tt.want {
			t.Errorf("nar ls %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

func TestPathInfoFlags(t *testing.T) {
	show := func(o *PathInfoOptions) string {
		return fmt.Sprintf("json=%v r=%v s=%v S=%v h=%v sigs=%v all=%v %s", o.JSON, o.Recursive, o.Size, o.ClosureSize, o.HumanReadable, o.Sigs, o.All, strings.Join(o.Paths, ","))
	}
	tests := []struct{ args, want string }{
		{"p", "json=false r=false s=false S=false h=false sigs=false all=false p"},
		{"-rsSh p q", "json=false r=true s=true S=true h=true sigs=false all=false p,q"},
		{"--json --recursive --closure-size --sigs p", "json=true r=true s=false S=true h=false sigs=true all=false p"},
		{"--all", "json=false r=false s=false S=false h=false sigs=false all=true "},
		{"--all p", "error: '--all' does not expect arguments"},
		{"-x p", "error: unrecognised flag '-x'"},
	}
	for _, tt := range tests {
		if got := parseWith(t, tt.args, newPathInfoCmd, show); got != tt.want {
			t.Errorf("path-info %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

func TestHashFlags(t *testing.T) {
	show := func(o *HashOptions) string {
		return fmt.Sprintf("rec=%v algo=%s enc=%s %s", o.Recursive, o.Algo, o.Encoding, strings.Join(o.Paths, ","))
	}
	tests := []struct{ args, want string }{
		{"f", "rec=true algo=sha256 enc=sri f"},
		{"--type sha512 --base16 a b", "rec=true algo=sha512 enc=base16 a,b"},
		{"--base32 --base64 f", "rec=true algo=sha256 enc=base64 f"},
		{"--type sha3 f", "error: unknown hash algorithm 'sha3'"},
	}
	for _, tt := range tests {
		newCmd := func(f *Factory, runF func(*HashOptions) error) func([]string) error { return newHashCmd(f, true, runF) }
		if got := parseWith(t, tt.args, newCmd, show); got != tt.want {
			t.Errorf("hash path %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	showC := func(o *HashConvertOptions) string {
		return fmt.Sprintf("algo=%s from=%s to=%s %s", o.Algo, o.From, o.To, strings.Join(o.Hashes, ","))
	}
	ctests := []struct{ to, args, want string }{
		{"", "h", "algo= from= to=sri h"},
		{"", "--hash-algo sha1 --from base16 --to nix32 h", "algo=sha1 from=base16 to=nix32 h"},
		{"", "--to base32 h", "algo= from= to=base32 h"},
		{"", "--to hex h", "error: unknown hash format 'hex' (want base16, nix32, base64 or sri)"},
		{"base16", "--type md5 h", "algo=md5 from= to=base16 h"},
		{"sri", "--to nix32 h", "error: unrecognised flag '--to'"},
	}
	for _, tt := range ctests {
		newCmd := func(f *Factory, runF func(*HashConvertOptions) error) func([]string) error {
			return newHashConvertCmd(f, tt.to, runF)
		}
		if got := parseWith(t, tt.args, newCmd, showC); got != tt.want {
			t.Errorf("hash convert(%s) %s:\n got %s\nwant %s", tt.to, tt.args, got, tt.want)
		}
	}
}

func TestStoreMaintenanceFlags(t *testing.T) {
	gc := []struct{ args, want string }{
		{"", "dry=false max=0"},
		{"--dry-run --max 300", "dry=true max=300"},
		{"--max 2M", "dry=false max=2097152"},
		{"--max x", "error: flag '--max' requires a size in bytes, got 'x'"},
		{"extra", "error: unexpected argument 'extra'"},
	}
	for _, tt := range gc {
		got := parseWith(t, tt.args, newStoreGCCmd, func(o *StoreGCOptions) string { return fmt.Sprintf("dry=%v max=%d", o.DryRun, o.Max) })
		if got != tt.want {
			t.Errorf("store gc %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	if _, err := parseSize("x"); err == nil {
		t.Error("parseSize accepted x")
	}
	verify := []struct{ args, want string }{
		{"", "cc=false repair=false all=false nc=false nt=false n=0 "},
		{"--check-contents --repair", "cc=true repair=true all=false nc=false nt=false n=0 "},
		{"--all --no-trust --sigs-needed 2", "cc=false repair=false all=true nc=false nt=true n=2 "},
		{"--no-contents p q", "cc=false repair=false all=false nc=true nt=false n=0 p,q"},
		{"--all p", "error: '--all' does not expect arguments"},
		{"-n x", "error: flag '-n' requires a non-negative integer, got 'x'"},
	}
	for _, tt := range verify {
		got := parseWith(t, tt.args, newStoreVerifyCmd, func(o *StoreVerifyOptions) string {
			return fmt.Sprintf("cc=%v repair=%v all=%v nc=%v nt=%v n=%d %s", o.CheckContents, o.Repair, o.All, o.NoContents, o.NoTrust, o.SigsNeeded, strings.Join(o.Paths, ","))
		})
		if got != tt.want {
			t.Errorf("store verify %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	del := []struct{ args, want string }{
		{"p q", "ign=false p,q"},
		{"--ignore-liveness p", "ign=true p"},
		{"", "error: expected store paths to delete"},
	}
	for _, tt := range del {
		got := parseWith(t, tt.args, newStoreDeleteCmd, func(o *StoreDeleteOptions) string {
			return fmt.Sprintf("ign=%v %s", o.IgnoreLiveness, strings.Join(o.Paths, ","))
		})
		if got != tt.want {
			t.Errorf("store delete %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	wd := []struct{ args, want string }{
		{"a b", "all=false precise=false a b"},
		{"-a --precise a b", "all=true precise=true a b"},
		{"a", "error: expected a package and a dependency"},
	}
	for _, tt := range wd {
		got := parseWith(t, tt.args, newWhyDependsCmd, func(o *WhyDependsOptions) string {
			return fmt.Sprintf("all=%v precise=%v %s %s", o.All, o.Precise, o.Package, o.Dep)
		})
		if got != tt.want {
			t.Errorf("why-depends %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
	ds := []struct{ args, want string }{
		{"-r a b", "r=true a,b"},
		{"--recursive a", "r=true a"},
		{"a", "r=false a"},
	}
	for _, tt := range ds {
		got := parseWith(t, tt.args, newDerivationShowCmd, func(o *DerivationShowOptions) string {
			return fmt.Sprintf("r=%v %s", o.Recursive, strings.Join(o.Paths, ","))
		})
		if got != tt.want {
			t.Errorf("derivation show %s:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

// TestStoreUsages checks that every store command has a --help synopsis
// and that --help prints it instead of running the command.
func TestStoreUsages(t *testing.T) {
	u := usages()
	groups := map[string][]subcommand{
		"store": storeSubcommands(), "nar": narSubcommands(),
		"hash": hashSubcommands(), "derivation": derivationSubcommands(),
	}
	for g, subs := range groups {
		for _, c := range subs {
			if _, ok := u[g+" "+c.name]; !ok {
				t.Errorf("no usage for %s %s", g, c.name)
			}
		}
	}
	for _, c := range storeCommands() {
		if _, isGroup := groups[c.name]; !isGroup {
			if _, ok := u[c.name]; !ok {
				t.Errorf("no usage for %s", c.name)
			}
		}
	}
	e := newStoreEnv(t)
	for _, args := range [][]string{{"store", "gc", "--help"}, {"why-depends", "--help"}} {
		out, _, code := e.run("", args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: cairn "+strings.Join(args[:len(args)-1], " ")+" ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	if _, errs, code := e.run("", "store"); code != 1 || !strings.Contains(errs, "'cairn store' requires a sub-command") {
		t.Errorf("cairn store: exit %d, %s", code, errs)
	}
	if _, errs, code := e.run("", "store", "frob"); code != 1 || !strings.Contains(errs, "'frob' is not a recognised command") {
		t.Errorf("cairn store frob: exit %d, %s", code, errs)
	}
}
