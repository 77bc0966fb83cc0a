// Package ast declares the syntax tree of the Nix language.
//
// The node set mirrors CppNix's nixexpr.hh so that printing (Show, which
// reproduces `nix-instantiate --parse`) and evaluation match Nix. The
// parser desugars as Nix does: `a - b` is Call{Var "__sub", a, b}, `a < b`
// is Call{Var "__lessThan", a, b}, `a > b` swaps the operands, `a <= b` is
// Not{Call{__lessThan b a}}, `-x` is Call{__sub, Int 0, x}, `a + b` is a
// ConcatStrings with ForceString false, and `<p>` is
// Call{Var "__findFile", Var "__nixPath", String "p"}. Nested attribute
// paths (`a.b = 1; a.c = 2;`) are merged into nested Attrs at parse time.
//
// Every node has an At field with a source position. Pos returns what
// CppNix's Expr::getPos returns, which is what evaluation errors and
// traces must use: NoPos for literals (Int, Float, String, Path) and Let,
// the first element for List, and the operand for Not and HasAttr.
package ast

import "cairn/internal/lang/token"

// Expr is a Nix expression node. The set of implementations is closed:
// *Int, *Float, *String, *Path, *Var, *Select, *HasAttr, *Attrs, *List,
// *Lambda, *Call, *Let, *With, *If, *Assert, *Not, *Binary,
// *ConcatStrings, *CurPos and *InheritFrom.
type Expr interface {
	// Pos returns the position CppNix's getPos reports for the node.
	Pos() token.Pos
	exprNode()
}

// Int is an integer literal. At is its start; Nix records no position.
type Int struct {
	At    token.Pos
	Value int64
}

// Float is a floating-point literal. At is its start; Nix records no
// position.
type Float struct {
	At    token.Pos
	Value float64
}

// String is a string without interpolation: a "..." or ”...” literal
// with no ${}, a URI literal, or a literal part of a ConcatStrings.
// Value is the unescaped bytes (not necessarily UTF-8). At is the start
// of the literal, or NoPos when synthesized; Nix records no position.
type String struct {
	At    token.Pos
	Value string
}

// Path is a path literal, already made absolute and canonical at parse
// time (relative paths against the base directory, `~/` against $HOME).
// A path with interpolation becomes a ConcatStrings whose first part is a
// Path; that Path keeps a trailing slash if the literal had one before the
// `${`. At is the literal's start; Nix records no position.
type Path struct {
	At    token.Pos
	Value string
}

// Var is a variable reference.
type Var struct {
	At   token.Pos
	Name string
}

// AttrName is one element of an attribute path: a static Name, or a
// dynamic Expr (from `${e}` or a "string with ${interpolation}") when
// Expr is non-nil.
type AttrName struct {
	Name string
	Expr Expr
}

// Select is `X.a.b` or `X.a.b or Default`. At is the start of X.
type Select struct {
	At      token.Pos
	X       Expr
	Path    []AttrName
	Default Expr // nil if no `or`
}

// HasAttr is `X ? a.b`. Its position is X's (as in Nix).
type HasAttr struct {
	At   token.Pos // position of '?' (not reported by Pos)
	X    Expr
	Path []AttrName
}

// AttrKind says how an attribute was defined.
type AttrKind uint8

const (
	// Plain is `name = expr;`.
	Plain AttrKind = iota
	// Inherited is `inherit name;`: Value is a *Var at the name.
	Inherited
	// InheritedFrom is `inherit (e) name;`: Value is a *Select of the
	// name from an *InheritFrom whose Index points into Attrs.InheritFrom
	// (see InheritFromIndex). All names of one clause share the same
	// *InheritFrom, as in Nix.
	InheritedFrom
)

// AttrDef is one static attribute of an Attrs or Let.
type AttrDef struct {
	Name    string
	Value   Expr
	NamePos token.Pos // position recorded for the attribute (unsafeGetAttrPos)
	Kind    AttrKind  // after NamePos: 40 bytes, not 48 (parsers allocate many)
}

// InheritFromIndex returns the index into the enclosing Attrs'
// InheritFrom of an InheritedFrom attribute's source, or -1.
func (d *AttrDef) InheritFromIndex() int {
	if d.Kind != InheritedFrom {
		return -1
	}
	if s, ok := d.Value.(*Select); ok {
		if f, ok := s.X.(*InheritFrom); ok {
			return f.Index
		}
	}
	return -1
}

// DynamicAttr is `${NameExpr} = Value;` or `"a${b}" = Value;`.
type DynamicAttr struct {
	At       token.Pos
	NameExpr Expr
	Value    Expr
}

// Attrs is an attribute set literal `{ ... }` or `rec { ... }`.
type Attrs struct {
	At          token.Pos // the '{' (or 'rec'/'let'); NoPos for sets made by nested paths
	Rec         bool
	Attrs       []*AttrDef    // static attributes sorted bytewise by Name, names unique
	Dynamic     []DynamicAttr // in source order
	InheritFrom []Expr        // sources of `inherit (e) ...;`, in source order
}

// Lookup returns the static attribute named name, or nil.
func (a *Attrs) Lookup(name string) *AttrDef {
	lo, hi := 0, len(a.Attrs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.Attrs[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(a.Attrs) && a.Attrs[lo].Name == name {
		return a.Attrs[lo]
	}
	return nil
}

// InheritFrom is the source expression of an `inherit (e) ...;` clause,
// referenced by index into the enclosing Attrs.InheritFrom (or
// Let.Attrs.InheritFrom). At is the position of e.
type InheritFrom struct {
	At    token.Pos
	Index int
}

// List is `[ a b c ]`. Its position is its first element's (as in Nix).
type List struct {
	At    token.Pos // the '[' (not reported by Pos)
	Elems []Expr
}

// Formal is one formal argument `name` or `name ? default`.
type Formal struct {
	At      token.Pos
	Name    string
	Default Expr // nil if none
}

// Formals is the `{ a, b ? 1, ... }` pattern of a Lambda.
type Formals struct {
	List     []Formal // sorted bytewise by Name, names unique
	Ellipsis bool
}

// Lookup returns the formal named name, or nil.
func (f *Formals) Lookup(name string) *Formal {
	lo, hi := 0, len(f.List)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.List[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(f.List) && f.List[lo].Name == name {
		return &f.List[lo]
	}
	return nil
}

// Lambda is `Arg: Body`, `{ formals }: Body` or `{ formals } @ Arg: Body`
// (equivalently `Arg @ { formals }: Body`).
type Lambda struct {
	At      token.Pos // start of the lambda
	Arg     string    // "" if none
	Formals *Formals  // nil for a plain `x: body`
	Body    Expr
	// Name is set when the lambda is the value of a static attribute
	// (`f = x: ...;`), as CppNix's setName does; "" for anonymous lambdas.
	Name string
}

// Call is a function application. Chains `f a b` are one Call with
// Args [a b]. At is the start of the application (or the operator for
// desugared operators).
type Call struct {
	At   token.Pos
	Fn   Expr
	Args []Expr
}

// Let is `let attrs in Body`. Attrs has Rec false and no Dynamic
// attributes. At is the 'let' keyword; Nix records no position for Let.
type Let struct {
	At    token.Pos
	Attrs *Attrs
	Body  Expr
}

// With is `with Env; Body`.
type With struct {
	At   token.Pos
	Env  Expr
	Body Expr
}

// If is `if Cond then Then else Else`.
type If struct {
	At   token.Pos
	Cond Expr
	Then Expr
	Else Expr
}

// Assert is `assert Cond; Body`.
type Assert struct {
	At   token.Pos
	Cond Expr
	Body Expr
}

// Not is `!X`. Its position is X's (as in Nix).
type Not struct {
	At token.Pos // the '!' (not reported by Pos)
	X  Expr
}

// BinaryOp is the operator of a Binary.
type BinaryOp uint8

// Binary operators that are not desugared to calls.
const (
	OpEq          BinaryOp = iota // ==
	OpNEq                         // !=
	OpAnd                         // &&
	OpOr                          // ||
	OpImpl                        // ->
	OpUpdate                      // //
	OpConcatLists                 // ++
)

var opNames = [...]string{"==", "!=", "&&", "||", "->", "//", "++"}

// String returns the operator as written in Nix.
func (op BinaryOp) String() string { return opNames[op] }

// Binary is `X Op Y`. At is the position of the operator.
type Binary struct {
	At token.Pos
	Op BinaryOp
	X  Expr
	Y  Expr
}

// StrPart is one part of a ConcatStrings with its position.
type StrPart struct {
	At token.Pos
	X  Expr
}

// ConcatStrings is an interpolated string or path (ForceString true for
// strings, false for paths) or the `+` operator (ForceString false, two
// parts, At the operator).
type ConcatStrings struct {
	At          token.Pos
	ForceString bool
	Parts       []StrPart
}

// CurPos is `__curPos`.
type CurPos struct {
	At token.Pos
}

func (x *Int) Pos() token.Pos           { return token.NoPos }
func (x *Float) Pos() token.Pos         { return token.NoPos }
func (x *String) Pos() token.Pos        { return token.NoPos }
func (x *Path) Pos() token.Pos          { return token.NoPos }
func (x *Var) Pos() token.Pos           { return x.At }
func (x *Select) Pos() token.Pos        { return x.At }
func (x *HasAttr) Pos() token.Pos       { return x.X.Pos() }
func (x *Attrs) Pos() token.Pos         { return x.At }
func (x *InheritFrom) Pos() token.Pos   { return x.At }
func (x *Lambda) Pos() token.Pos        { return x.At }
func (x *Call) Pos() token.Pos          { return x.At }
func (x *Let) Pos() token.Pos           { return token.NoPos }
func (x *With) Pos() token.Pos          { return x.At }
func (x *If) Pos() token.Pos            { return x.At }
func (x *Assert) Pos() token.Pos        { return x.At }
func (x *Not) Pos() token.Pos           { return x.X.Pos() }
func (x *Binary) Pos() token.Pos        { return x.At }
func (x *ConcatStrings) Pos() token.Pos { return x.At }
func (x *CurPos) Pos() token.Pos        { return x.At }

// Pos of a List is its first element's position, as in Nix.
func (x *List) Pos() token.Pos {
	if len(x.Elems) == 0 {
		return token.NoPos
	}
	return x.Elems[0].Pos()
}

func (*Int) exprNode()           {}
func (*Float) exprNode()         {}
func (*String) exprNode()        {}
func (*Path) exprNode()          {}
func (*Var) exprNode()           {}
func (*Select) exprNode()        {}
func (*HasAttr) exprNode()       {}
func (*Attrs) exprNode()         {}
func (*InheritFrom) exprNode()   {}
func (*List) exprNode()          {}
func (*Lambda) exprNode()        {}
func (*Call) exprNode()          {}
func (*Let) exprNode()           {}
func (*With) exprNode()          {}
func (*If) exprNode()            {}
func (*Assert) exprNode()        {}
func (*Not) exprNode()           {}
func (*Binary) exprNode()        {}
func (*ConcatStrings) exprNode() {}
func (*CurPos) exprNode()        {}
