package eval

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Flake references for builtins.parseFlakeRef and builtins.flakeRefToString,
// following current Nix's libflake/flakeref.cc and the input schemes of
// libfetchers. The schemes that need no fetching knowledge beyond their URL
// syntax are implemented: indirect (flake IDs and flake:), github, gitlab,
// sourcehut and path. git, mercurial, tarball and file references are
// reported as unsupported.

// flakeAttr is one fetchers::Attrs value: a string, a uint64 or a Boolean.
type flakeAttr struct {
	kind Kind // KString, KInt or KBool
	s    string
	n    uint64
	b    bool
}

type flakeAttrs map[string]flakeAttr

func strAttr(s string) flakeAttr { return flakeAttr{kind: KString, s: s} }

// errBadURL marks Nix's BadURL: a URL that a scheme rejects makes
// parseFlakeRef fall back to reading the reference as a path.
type errBadURL struct{ msg string }

func (e errBadURL) Error() string { return e.msg }

func badURL(format string, args ...any) error { return errBadURL{fmt.Sprintf(format, args...)} }

// The regular expressions are compiled on first use: every cairn process
// would otherwise pay for them at start-up.
var (
	flakeIDRe   = `[a-zA-Z][a-zA-Z0-9_-]*`
	refRe       = `[a-zA-Z0-9@][a-zA-Z0-9_.\/@+-]*`
	revRe       = `[0-9a-fA-F]{40}`
	pctEncoded  = `(?:%[0-9a-fA-F][0-9a-fA-F])`
	pcharRe     = `(?:[a-zA-Z0-9-._~]|` + pctEncoded + `|[!$&'"()*+,;=]|[:@])`
	fragmentRe  = `(?:` + pcharRe + `|[/? "^])*`
	flakeRefIDs = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^((` + flakeIDRe + `)(?:/(?:(` + revRe + `)|(?:(` + refRe + `)(?:/(` + revRe + `))?)))?)(?:#(` + fragmentRe + `))?$`)
	})
	flakeIDOnly = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + flakeIDRe + `$`) })
	revOnly     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + revRe + `$`) })
	refOnly     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + refRe + `$`) })
	hostOnly    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9.-]*$`) })
	schemeRe    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*):`) })
)

// parsedURL is Nix's ParsedURL, enough of it for flake references.
type parsedURL struct {
	scheme    string
	authority *string
	path      []string // segments; an absolute path starts with ""
	query     map[string]string
	fragment  string
}

func (u *parsedURL) String() string {
	var b strings.Builder
	b.WriteString(u.scheme + ":")
	if u.authority != nil {
		b.WriteString("//" + *u.authority)
	}
	for i, p := range u.path {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(percentEncode(p, ":@"))
	}
	if len(u.query) > 0 {
		b.WriteString("?" + encodeQuery(u.query))
	}
	if u.fragment != "" {
		b.WriteString("#" + percentEncode(u.fragment, ""))
	}
	return b.String()
}

// segments returns the non-empty path segments.
func (u *parsedURL) segments() []string {
	var out []string
	for _, s := range u.path {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func percentEncode(s, allowed string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 || strings.IndexByte(allowed, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func encodeQuery(q map[string]string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k, ":@/?") + "=" + percentEncode(q[k], ":@/?"))
	}
	return b.String()
}

func decodeQuery(s string) map[string]string {
	q := map[string]string{}
	for _, kv := range strings.Split(s, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, dup := q[percentDecode(k)]; !dup {
			q[percentDecode(k)] = percentDecode(v)
		}
	}
	return q
}

// parseURL parses url leniently as Nix's parseURL; a string without a
// scheme is a BadURL.
func parseURL(url string) (*parsedURL, error) {
	m := schemeRe().FindStringSubmatch(url)
	if m == nil {
		return nil, badURL("'%s' is not a valid URL", url)
	}
	u := &parsedURL{scheme: m[1], query: map[string]string{}}
	rest := url[len(m[0]):]
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		u.fragment = percentDecode(rest[i+1:])
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.query = decodeQuery(rest[i+1:])
		rest = rest[:i]
	}
	if a, ok := strings.CutPrefix(rest, "//"); ok {
		host, p, _ := strings.Cut(a, "/")
		u.authority = &host
		rest = "/" + p
		if p == "" && !strings.HasSuffix(a, "/") {
			rest = ""
		}
	}
	if rest != "" {
		for _, s := range strings.Split(rest, "/") {
			u.path = append(u.path, percentDecode(s))
		}
	}
	return u, nil
}

// flakeRef is a parsed flake reference: the input's attributes and dir.
type flakeRef struct {
	attrs  flakeAttrs
	subdir string
}

// parseFlakeRef is Nix's parseFlakeRef with no base directory, allowing
// a missing flake.nix.
func parseFlakeRef(s string) (*flakeRef, error) {
	ref, frag, err := parseFlakeRefWithFragment(s)
	if err != nil {
		return nil, err
	}
	if frag != "" {
		return nil, fmt.Errorf("unexpected fragment '%s' in flake reference '%s'", frag, s)
	}
	return ref, nil
}

func parseFlakeRefWithFragment(s string) (*flakeRef, string, error) {
	if m := flakeRefIDs().FindStringSubmatch(s); m != nil {
		u := &parsedURL{scheme: "flake", path: strings.Split(m[1], "/")}
		in, err := inputFromURL(u)
		if err != nil {
			return nil, "", err
		}
		return &flakeRef{attrs: in}, percentDecode(m[6]), nil
	}
	if u, err := parseURL(s); err == nil {
		ref, frag, err := fromParsedURL(u)
		if err == nil || !errors.As(err, new(errBadURL)) {
			return ref, frag, err
		}
	}
	// A path.
	p, rest, _ := strings.Cut(s, "?")
	query, frag := "", ""
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p, frag = p[:i], p[i+1:]
	} else if i := strings.IndexByte(rest, '#'); i >= 0 {
		query, frag = rest[:i], rest[i+1:]
	} else {
		query = rest
	}
	if !strings.HasPrefix(p, "/") {
		return nil, "", badURL("flake reference '%s' is not an absolute path", s)
	}
	auth := ""
	return fromParsedURL(&parsedURL{scheme: "path", authority: &auth, path: strings.Split(p, "/"),
		query: decodeQuery(query), fragment: percentDecode(frag)})
}

func fromParsedURL(u *parsedURL) (*flakeRef, string, error) {
	dir := u.query["dir"]
	delete(u.query, "dir")
	frag := u.fragment
	u.fragment = ""
	in, err := inputFromURL(u)
	if err != nil {
		return nil, "", err
	}
	return &flakeRef{attrs: in, subdir: dir}, frag, nil
}

// inputFromURL is fetchers::Input::fromURL over the supported schemes.
func inputFromURL(u *parsedURL) (flakeAttrs, error) {
	switch u.scheme {
	case "github", "gitlab", "sourcehut":
		return gitArchiveFromURL(u)
	case "flake":
		return indirectFromURL(u)
	case "path":
		return pathFromURL(u)
	}
	return nil, fmt.Errorf("input '%s' is unsupported", u)
}

func gitArchiveFromURL(u *parsedURL) (flakeAttrs, error) {
	path := u.segments()
	a := flakeAttrs{}
	switch n := len(path); {
	case n == 3:
		if revOnly().MatchString(path[2]) {
			a["rev"] = strAttr(path[2])
		} else {
			a["ref"] = strAttr(path[2])
		}
	case n > 3:
		a["ref"] = strAttr(strings.Join(path[2:], "/"))
	case n < 2:
		return nil, badURL("URL '%s' is invalid", u)
	}
	keys := make([]string, 0, len(u.query))
	for k := range u.query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := u.query[k]
		switch k {
		case "rev", "ref":
			if _, ok := a[k]; ok {
				what := "commit hashes"
				if k == "ref" {
					what = "branch/tag names"
				}
				return nil, badURL("URL '%s' contains multiple %s", u, what)
			}
			a[k] = strAttr(v)
		case "host", "narHash":
			a[k] = strAttr(v)
		default:
			return nil, badURL("URL '%s' contains unknown parameter '%s'", u, k)
		}
	}
	a["type"] = strAttr(u.scheme)
	a["owner"] = strAttr(path[0])
	a["repo"] = strAttr(path[1])
	return a, gitArchiveCheck(a)
}

func gitArchiveCheck(a flakeAttrs) error {
	for _, k := range []string{"owner", "repo"} {
		if _, err := a.str(k); err != nil {
			return err
		}
	}
	ref, hasRef, err := a.maybeStr("ref")
	if err != nil {
		return err
	}
	rev, hasRev, err := a.maybeStr("rev")
	if err != nil {
		return err
	}
	if hasRef && hasRev {
		return badURL("input %s contains both a commit hash ('%s') and a branch/tag name ('%s')", a.json(), rev, ref)
	}
	if hasRev && !revOnly().MatchString(rev) {
		return fmt.Errorf("hash '%s' is not a valid SHA-1 commit hash", rev)
	}
	if hasRef && !legalRefName(ref) {
		return badURL("input %s contains an invalid branch/tag name", a.json())
	}
	if host, ok, _ := a.maybeStr("host"); ok && !hostOnly().MatchString(host) {
		return badURL("input %s contains an invalid instance host", a.json())
	}
	return nil
}

// legalRefName approximates git check-ref-format, as Nix's isLegalRefName.
func legalRefName(r string) bool {
	if r == "" || r == "@" || !refOnly().MatchString(r) {
		return false
	}
	for _, bad := range []string{"..", "//", "@{", "/."} {
		if strings.Contains(r, bad) {
			return false
		}
	}
	return !strings.HasSuffix(r, "/") && !strings.HasSuffix(r, ".") && !strings.HasSuffix(r, ".lock")
}

func indirectFromURL(u *parsedURL) (flakeAttrs, error) {
	path := u.segments()
	a := flakeAttrs{"type": strAttr("indirect")}
	switch len(path) {
	case 1:
	case 2:
		switch {
		case revOnly().MatchString(path[1]):
			a["rev"] = strAttr(strings.ToLower(path[1]))
		case legalRefName(path[1]):
			a["ref"] = strAttr(path[1])
		default:
			return nil, badURL("in flake URL '%s', '%s' is not a commit hash or branch/tag name", u, path[1])
		}
	case 3:
		if !legalRefName(path[1]) {
			return nil, badURL("in flake URL '%s', '%s' is not a branch/tag name", u, path[1])
		}
		a["ref"] = strAttr(path[1])
		if !revOnly().MatchString(path[2]) {
			return nil, badURL("in flake URL '%s', '%s' is not a commit hash", u, path[2])
		}
		a["rev"] = strAttr(strings.ToLower(path[2]))
	default:
		return nil, badURL("GitHub URL '%s' is invalid", u)
	}
	if !flakeIDOnly().MatchString(path[0]) {
		return nil, badURL("'%s' is not a valid flake ID", path[0])
	}
	a["id"] = strAttr(path[0])
	return a, nil
}

func pathFromURL(u *parsedURL) (flakeAttrs, error) {
	if u.authority != nil && *u.authority != "" {
		return nil, fmt.Errorf("path URL '%s' should not have an authority ('%s')", u, *u.authority)
	}
	a := flakeAttrs{"type": strAttr("path"), "path": strAttr(strings.Join(u.path, "/"))}
	for k, v := range u.query {
		switch k {
		case "rev", "narHash":
			a[k] = strAttr(v)
		case "revCount", "lastModified":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("path URL '%s' has invalid parameter '%s'", u, k)
			}
			a[k] = flakeAttr{kind: KInt, n: n}
		default:
			return nil, fmt.Errorf("path URL '%s' has unsupported parameter '%s'", u, k)
		}
	}
	return a, nil
}

// flakeRefFromAttrs is FlakeRef::fromAttrs.
func flakeRefFromAttrs(a flakeAttrs) (*flakeRef, error) {
	dir, _, err := a.maybeStr("dir")
	if err != nil {
		return nil, err
	}
	in := flakeAttrs{}
	for k, v := range a {
		if k != "dir" {
			in[k] = v
		}
	}
	typ, ok, err := in.maybeStr("type")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("'type' attribute to specify input scheme is required but not provided")
	}
	allowed := map[string][]string{
		"github":    {"owner", "repo", "ref", "rev", "narHash", "lastModified", "host", "treeHash"},
		"gitlab":    {"owner", "repo", "ref", "rev", "narHash", "lastModified", "host", "treeHash"},
		"sourcehut": {"owner", "repo", "ref", "rev", "narHash", "lastModified", "host", "treeHash"},
		"indirect":  {"id", "ref", "rev", "narHash"},
		"path":      {"path", "rev", "revCount", "lastModified", "narHash"},
	}[typ]
	if allowed == nil {
		return nil, fmt.Errorf("cannot show unsupported input '%s'", in.json())
	}
	for k := range in {
		if k != "type" && k != "__final" && !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("input attribute '%s' not supported by scheme '%s'", k, typ)
		}
	}
	switch typ {
	case "indirect":
		id, err := in.str("id")
		if err != nil {
			return nil, err
		}
		if !flakeIDOnly().MatchString(id) {
			return nil, badURL("'%s' is not a valid flake ID", id)
		}
	case "path":
		if _, err := in.str("path"); err != nil {
			return nil, err
		}
	default:
		if err := gitArchiveCheck(in); err != nil {
			return nil, err
		}
	}
	return &flakeRef{attrs: in, subdir: dir}, nil
}

// String is FlakeRef::to_string.
func (r *flakeRef) String() (string, error) {
	a := r.attrs
	typ, _, _ := a.maybeStr("type")
	u := &parsedURL{query: map[string]string{}}
	ref, hasRef, err := a.maybeStr("ref")
	if err != nil {
		return "", err
	}
	rev, hasRev, err := a.maybeStr("rev")
	if err != nil {
		return "", err
	}
	switch typ {
	case "github", "gitlab", "sourcehut":
		owner, _ := a.str("owner")
		repo, _ := a.str("repo")
		u.scheme, u.path = typ, []string{owner, repo}
		if hasRef {
			u.path = append(u.path, ref)
		}
		if hasRev {
			u.path = append(u.path, strings.ToLower(rev))
		}
		if h, ok, _ := a.maybeStr("narHash"); ok {
			u.query["narHash"] = h
		}
		if h, ok, _ := a.maybeStr("host"); ok {
			u.query["host"] = h
		}
	case "indirect":
		id, _ := a.str("id")
		u.scheme, u.path = "flake", []string{id}
		if hasRef {
			u.path = append(u.path, ref)
		}
		if hasRev {
			u.path = append(u.path, strings.ToLower(rev))
		}
	case "path":
		p, _ := a.str("path")
		u.scheme, u.path = "path", strings.Split(p, "/")
		for k, v := range a {
			switch {
			case k == "path" || k == "type" || k == "__final":
			case v.kind == KString:
				u.query[k] = v.s
			case v.kind == KInt:
				u.query[k] = strconv.FormatUint(v.n, 10)
			case v.b:
				u.query[k] = "1"
			default:
				u.query[k] = "0"
			}
		}
	default:
		return "", fmt.Errorf("cannot show unsupported input '%s'", a.json())
	}
	if r.subdir != "" {
		if _, ok := u.query["dir"]; !ok {
			u.query["dir"] = r.subdir
		}
	}
	return u.String(), nil
}

func (a flakeAttrs) maybeStr(k string) (string, bool, error) {
	v, ok := a[k]
	if !ok {
		return "", false, nil
	}
	if v.kind != KString {
		return "", false, fmt.Errorf("input attribute '%s' is not a string %s", k, a.json())
	}
	return v.s, true, nil
}

func (a flakeAttrs) str(k string) (string, error) {
	s, ok, err := a.maybeStr(k)
	if err == nil && !ok {
		err = fmt.Errorf("input attribute '%s' is missing", k)
	}
	return s, err
}

// json renders the attributes as nlohmann's compact dump.
func (a flakeAttrs) json() string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k) + ":")
		switch v := a[k]; v.kind {
		case KString:
			b.WriteString(strconv.Quote(v.s))
		case KInt:
			b.WriteString(strconv.FormatUint(v.n, 10))
		default:
			b.WriteString(strconv.FormatBool(v.b))
		}
	}
	b.WriteByte('}')
	return b.String()
}

func primParseFlakeRef(ev *Evaluator, p Pos, a []Value) (Value, error) {
	s, err := ev.forceStringNoCtx(a[0], p, "while evaluating the argument passed to builtins.parseFlakeRef")
	if err != nil {
		return Value{}, err
	}
	ref, err := parseFlakeRef(s)
	if err != nil {
		return Value{}, ev.ferr("%s", err.Error())
	}
	m := map[string]Value{}
	for k, v := range ref.attrs {
		switch v.kind {
		case KString:
			m[k] = String(v.s)
		case KInt:
			m[k] = Int(int64(v.n))
		default:
			m[k] = Bool(v.b)
		}
	}
	if ref.subdir != "" {
		m["dir"] = String(ref.subdir)
	}
	return ev.NewAttrs(m), nil
}

func primFlakeRefToString(ev *Evaluator, p Pos, a []Value) (Value, error) {
	v, err := ev.force(a[0], 0)
	if err != nil {
		return Value{}, err
	}
	if v.Kind() != KAttrs {
		return Value{}, ev.typeError("a set", v, 0).withTrace(0, "while evaluating the argument passed to builtins.flakeRefToString")
	}
	attrs := flakeAttrs{}
	for _, at := range v.AttrsV().All() {
		x, err := ev.force(at.Val, Pos(at.Pos))
		if err != nil {
			return Value{}, err
		}
		name := ev.syms.name(at.Name)
		switch x.Kind() {
		case KInt:
			if x.IntV() < 0 {
				return Value{}, ev.ferr("negative value given for flake ref attr %s: %d", name, x.IntV())
			}
			attrs[name] = flakeAttr{kind: KInt, n: uint64(x.IntV())}
		case KBool:
			attrs[name] = flakeAttr{kind: KBool, b: x.BoolV()}
		case KString:
			attrs[name] = strAttr(x.Str())
		default:
			return Value{}, ev.ferr("flake reference attribute sets may only contain integers, Booleans, and strings, but attribute '%s' is %s", name, showType(x, true))
		}
	}
	ref, err := flakeRefFromAttrs(attrs)
	if err != nil {
		return Value{}, ev.ferr("%s", err.Error())
	}
	s, err := ref.String()
	if err != nil {
		return Value{}, ev.ferr("%s", err.Error())
	}
	return String(s), nil
}
