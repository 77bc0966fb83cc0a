package eval

// Sym is an interned attribute or variable name. Ids are assigned in intern
// order, which is the internal iteration order of attribute sets.
type Sym uint32

// symtab interns names. Pre-interned names follow CppNix's static symbol
// table so that symbol-id order (==, deepSeq, errors) matches.
type symtab struct {
	ids   map[string]Sym
	names []string
	vals  []Value // cached string Values
}

var staticSymbolNames = []string{
	"<with>", "outPath", "drvPath", "type", "meta", "name", "value", "system",
	"__overrides", "outputs", "outputName", "__ignoreNulls", "file", "line",
	"column", "__functor", "__toString", "right", "wrong", "__structuredAttrs",
	"__json", "allowedReferences", "allowedRequisites", "disallowedReferences",
	"disallowedRequisites", "maxSize", "maxClosureSize", "builder", "args",
	"__contentAddressed", "__impure", "outputHash", "outputHashAlgo",
	"outputHashMode", "recurseForDerivations", "description", "self", "",
	"startSet", "operator", "key", "path", "prefix", "outputSpecified",
	"requiredSystemFeatures", "__sub", "__lessThan", "__mul", "__div", "or",
	"__findFile", "__nixPath", "body",
}

// Static symbol ids, in the order of staticSymbolNames.
const (
	symWith Sym = iota
	symOutPath
	symDrvPath
	symType
	symMeta
	symName
	symValue
	symSystem
	symOverrides
	symOutputs
	symOutputName
	symIgnoreNulls
	symFile
	symLine
	symColumn
	symFunctor
	symToString
	symRight
	symWrong
	symStructuredAttrs
	symJSON
	symAllowedReferences
	symAllowedRequisites
	symDisallowedReferences
	symDisallowedRequisites
	symMaxSize
	symMaxClosureSize
	symBuilder
	symArgs
	symContentAddressed
	symImpure
	symOutputHash
	symOutputHashAlgo
	symOutputHashMode
	symRecurseForDerivations
	symDescription
	symSelf
	symEpsilon
	symStartSet
	symOperator
	symKey
	symPath
	symPrefix
	symOutputSpecified
	symRequiredSystemFeatures
	symSub
	symLessThan
	symMul
	symDiv
	symOr
	symFindFile
	symNixPath
	symBody
)

func newSymtab() *symtab {
	t := &symtab{ids: make(map[string]Sym, 4096)}
	for _, n := range staticSymbolNames {
		t.intern(n)
	}
	return t
}

func (t *symtab) intern(s string) Sym {
	if id, ok := t.ids[s]; ok {
		return id
	}
	id := Sym(len(t.names))
	t.ids[s] = id
	t.names = append(t.names, s)
	t.vals = append(t.vals, String(s))
	return id
}

func (t *symtab) lookup(s string) (Sym, bool) {
	id, ok := t.ids[s]
	return id, ok
}

func (t *symtab) name(s Sym) string { return t.names[s] }
