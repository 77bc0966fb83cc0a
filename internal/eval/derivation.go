package eval

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
)

// hashPlaceholder is builtins.placeholder: "/" + nix32(sha256("nix-output:" + out)).
func hashPlaceholder(out string) string {
	h := sha256.Sum256([]byte("nix-output:" + out))
	return "/" + nixbase32.EncodeToString(h[:])
}

// DerivationRequest is a derivation as derivationStrict computed it, for
// IO.AddDerivation to hash, write and name. Env already holds every
// attribute (and, for fixed outputs, nothing for "out"; the store side
// fills in output paths).
type DerivationRequest struct {
	Name    string
	System  string
	Builder string
	Args    []string
	Env     map[string]string
	Outputs []string // sorted
	// Context holds the string context of all attributes: plain store
	// paths (inputSrcs), "!out!/nix/store/x.drv" (inputDrvs) and
	// "=/nix/store/x.drv" (the whole closure of x.drv).
	Context []string
	// Fixed-output derivations.
	OutputHash     string // "" for input-addressed
	OutputHashAlgo string // as given ("" if none)
	OutputHashMode string // "flat", "recursive" (nar) or "text"
	// StructuredAttrs is the __json object text, or "".
	StructuredAttrs          string
	ContentAddressed, Impure bool
}

// DerivationResult names what AddDerivation wrote.
type DerivationResult struct {
	DrvPath string
	Outputs map[string]string // output name -> path (or placeholder)
}

// derivationSource is the text of CppNix's derivation wrapper
// (src/libexpr/primops/derivation.nix); positions in it appear in errors.
const derivationSource = `# This is the implementation of the ` + "`derivation`" + ` builtin function.
# It's actually a wrapper around the ` + "`derivationStrict`" + ` primop.
# Note that the following comment will be shown in :doc in the repl, but not in the manual.

/**
  Create a derivation.

  # Inputs

  The single argument is an attribute set that describes what to build and how to build it.
  See https://nix.dev/manual/nix/2.23/language/derivations

  # Output

  The result is an attribute set that describes the derivation.
  Notably it contains the outputs, which in the context of the Nix language are special strings that refer to the output paths, which may not yet exist.
  The realisation of these outputs only occurs when needed; for example

    * When ` + "`nix-build`" + ` or a similar command is run, it realises the outputs that were requested on its command line.
      See https://nix.dev/manual/nix/2.23/command-ref/nix-build

    * When ` + "`import`, `readFile`, `readDir`" + ` or some other functions are called, they have to realise the outputs they depend on.
      This is referred to as "import from derivation".
      See https://nix.dev/manual/nix/2.23/language/import-from-derivation

  Note that ` + "`derivation`" + ` is very bare-bones, and provides almost no commands during the build.
  Most likely, you'll want to use functions like ` + "`stdenv.mkDerivation`" + ` in Nixpkgs to set up a basic environment.
*/
drvAttrs@{
  outputs ? [ "out" ],
  ...
}:

let

  strict = derivationStrict drvAttrs;

  commonAttrs =
    drvAttrs
    // (builtins.listToAttrs outputsList)
    // {
      all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };

  outputToAttrListElement = outputName: {
    name = outputName;
    value = commonAttrs // {
      outPath = strict.${outputName};
      drvPath = strict.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };

  outputsList = map outputToAttrListElement outputs;

in
(builtins.head outputsList).value
`

const derivationFile = "«nix-internal»/derivation-internal.nix"

// derivationValue evaluates the derivation wrapper in the base env.
func (ev *Evaluator) derivationValue() Value {
	e, err := ev.parse([]byte(derivationSource), derivationFile, "/")
	if err != nil {
		panic("eval: derivation wrapper does not parse: " + err.Error())
	}
	x, err := ev.compile(e)
	if err != nil {
		panic("eval: derivation wrapper does not compile: " + err.Error())
	}
	return ev.newThunk(ev.baseEnv, x)
}

func extraBuiltins() []Primop {
	return append(hashBuiltins(),
		Primop{Name: "derivationStrict", Arity: 1, Fn: primDerivationStrict},
		Primop{Name: "__fromJSON", Arity: 1, Fn: primFromJSON},
		Primop{Name: "fromTOML", Arity: 1, Fn: primFromTOML},
	)
}

func checkDrvName(name string) error {
	if name == "" {
		return fmt.Errorf("name '' is not valid")
	}
	if len(name) > 211 {
		return fmt.Errorf("name '%s' must be no longer than 211 characters", name)
	}
	if name == "." || name == ".." || strings.HasPrefix(name, ".-") || strings.HasPrefix(name, "..-") {
		return fmt.Errorf("name '%s' is not valid", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '+' || c == '-' || c == '.' || c == '_' || c == '?' || c == '=') {
			return fmt.Errorf("name '%s' contains illegal character '%c'", name, c)
		}
	}
	return nil
}

func primDerivationStrict(ev *Evaluator, p Pos, a []Value) (Value, error) {
	attrs, err := ev.forceAttrs(a[0], 0, "while evaluating the argument passed to builtins.derivationStrict")
	if err != nil {
		return Value{}, err
	}
	na, ok := attrs.Get(symName)
	if !ok {
		return Value{}, ev.errorf(errType, 0, "attribute 'name' missing").withTrace(0, "in the attrset passed as argument to builtins.derivationStrict")
	}
	name, err := ev.forceStringNoCtx(na.Val, 0, "while evaluating the `name` attribute passed to builtins.derivationStrict")
	if err != nil {
		return Value{}, addTrace(err, Pos(na.Pos), "while evaluating the derivation attribute 'name'")
	}
	v, err := ev.derivationStrict(name, attrs)
	if err != nil {
		if e, ok := err.(*EvalError); ok {
			e.Frames = append(e.Frames, Frame{Msg: fmt.Sprintf("while evaluating derivation '%s'\n  whose name attribute is located at %s", name, ev.showPos(Pos(na.Pos))), Always: true})
		}
		return Value{}, err
	}
	return v, nil
}

func (ev *Evaluator) derivationStrict(name string, attrs *Attrs) (Value, error) {
	if err := checkDrvName(name); err != nil {
		return Value{}, ev.ferr("invalid derivation name: %s. Please pass a different '%s'.", err.Error(), "name")
	}
	var structured bool
	if at, ok := attrs.Get(symStructuredAttrs); ok {
		b, err := ev.forceBool(at.Val, 0, "while evaluating the `__structuredAttrs` attribute passed to builtins.derivationStrict")
		if err != nil {
			return Value{}, err
		}
		structured = b
	}
	ignoreNulls := false
	if at, ok := attrs.Get(symIgnoreNulls); ok {
		b, err := ev.forceBool(at.Val, 0, "while evaluating the `__ignoreNulls` attribute passed to builtins.derivationStrict")
		if err != nil {
			return Value{}, err
		}
		ignoreNulls = b
	}
	req := DerivationRequest{Name: name, Env: map[string]string{}}
	var cb ctxBuilder
	outputs := []string{"out"}
	var jsonParts []string
	hashModeSet := false
	for _, at := range ev.lexOrder(attrs) {
		if at.Name == symIgnoreNulls {
			continue
		}
		key := ev.syms.name(at.Name)
		err := func() error {
			if ignoreNulls {
				v, err := ev.force(at.Val, 0)
				if err != nil {
					return err
				}
				if v.Kind() == KNull {
					return nil
				}
			}
			handleMode := func(s string) error {
				switch s {
				case "recursive", "nar":
					req.OutputHashMode = "recursive"
				case "flat":
					req.OutputHashMode = "flat"
				case "text":
					req.OutputHashMode = "text"
				default:
					return ev.ferr("invalid value '%s' for 'outputHashMode' attribute", s)
				}
				hashModeSet = true
				return nil
			}
			handleOutputs := func(ss []string) error {
				outputs = outputs[:0]
				for _, j := range ss {
					if slices.Contains(outputs, j) {
						return ev.ferr("duplicate derivation output '%s'", j)
					}
					if j == "drvPath" {
						return ev.ferr("invalid derivation output name 'drvPath'")
					}
					outputs = append(outputs, j)
				}
				if len(outputs) == 0 {
					return ev.ferr("derivation cannot have an empty set of outputs")
				}
				return nil
			}
			switch at.Name {
			case symContentAddressed:
				b, err := ev.forceBool(at.Val, 0, "")
				req.ContentAddressed = b
				return err
			case symImpure:
				b, err := ev.forceBool(at.Val, 0, "")
				req.Impure = b
				return err
			case symArgs:
				l, err := ev.forceList(at.Val, 0, "")
				if err != nil {
					return err
				}
				for _, x := range l.ListV() {
					s, err := ev.coerceToString(0, x, &cb, "while evaluating an element of the argument list", coerceOpts{more: true, copy: true})
					if err != nil {
						return err
					}
					req.Args = append(req.Args, s)
				}
				return nil
			}
			if structured {
				if at.Name == symStructuredAttrs {
					return nil
				}
				var b strings.Builder
				if err := ev.toJSON(&b, at.Val, true, &cb, 0); err != nil {
					return err
				}
				jsonParts = append(jsonParts, jsonQuote(key)+":"+b.String())
				switch at.Name {
				case symAllowedReferences, symAllowedRequisites, symDisallowedReferences, symDisallowedRequisites, symMaxSize, symMaxClosureSize:
					ev.warnAt(fmt.Sprintf("'structuredAttrs' disables the effect of the derivation attribute '%s'; use 'outputChecks.<output>.%s' instead", key, key), Pos(at.Pos), Frame{Msg: fmt.Sprintf("while evaluating derivation '%s'", name)})
				}
				switch at.Name {
				case symBuilder:
					v, err := ev.forceString(at.Val, 0, "")
					if err != nil {
						return err
					}
					cb.add(v.Ctx())
					req.Builder = v.Str()
				case symSystem:
					s, err := ev.forceStringNoCtx(at.Val, 0, "")
					if err != nil {
						return err
					}
					req.System = s
				case symOutputHash:
					s, err := ev.forceStringNoCtx(at.Val, 0, "")
					if err != nil {
						return err
					}
					req.OutputHash = s
				case symOutputHashAlgo:
					s, err := ev.forceStringNoCtx(at.Val, 0, "")
					if err != nil {
						return err
					}
					req.OutputHashAlgo = s
				case symOutputHashMode:
					s, err := ev.forceStringNoCtx(at.Val, 0, "")
					if err != nil {
						return err
					}
					return handleMode(s)
				case symOutputs:
					l, err := ev.forceList(at.Val, 0, "")
					if err != nil {
						return err
					}
					var ss []string
					for _, x := range l.ListV() {
						s, err := ev.forceStringNoCtx(x, 0, "")
						if err != nil {
							return err
						}
						ss = append(ss, s)
					}
					return handleOutputs(ss)
				}
				return nil
			}
			s, err := ev.coerceToString(0, at.Val, &cb, "", coerceOpts{more: true, copy: true})
			if err != nil {
				return err
			}
			if at.Name == symJSON {
				ev.warnAt("setting structured attributes via '__json' is deprecated, and may be disallowed in future versions of Nix. Set '__structuredAttrs = true' instead.", Pos(at.Pos), Frame{Msg: fmt.Sprintf("while evaluating derivation '%s'", name)})
				req.StructuredAttrs = s
				return nil
			}
			req.Env[key] = s
			switch at.Name {
			case symBuilder:
				req.Builder = s
			case symSystem:
				req.System = s
			case symOutputHash:
				req.OutputHash = s
			case symOutputHashAlgo:
				req.OutputHashAlgo = s
			case symOutputHashMode:
				return handleMode(s)
			case symOutputs:
				return handleOutputs(strings.Fields(s))
			}
			return nil
		}()
		if err != nil {
			return Value{}, addTracef(err, Pos(at.Pos), "while evaluating attribute '%s' of derivation '%s'", printIdentifier(key), name)
		}
	}
	if structured {
		req.StructuredAttrs = "{" + strings.Join(jsonParts, ",") + "}"
	}
	req.Context = cb.c.Elems()
	if req.Builder == "" {
		return Value{}, ev.ferr("required attribute 'builder' missing")
	}
	if req.System == "" {
		return Value{}, ev.ferr("required attribute 'system' missing")
	}
	if strings.HasSuffix(name, ".drv") && !(req.OutputHashMode == "text" && len(outputs) == 1 && outputs[0] == "out") {
		return Value{}, ev.ferr("derivation names are allowed to end in '%s' only if they produce a single derivation file", ".drv")
	}
	if req.OutputHash != "" || (req.OutputHashAlgo != "" && hashModeSet && false) {
		if len(outputs) != 1 || outputs[0] != "out" {
			return Value{}, ev.ferr("multiple outputs are not supported in fixed-output derivations")
		}
		if req.OutputHashMode == "" {
			req.OutputHashMode = "flat"
		}
		if req.OutputHashAlgo != "" {
			if _, err := nixhash.ParseAlgo(req.OutputHashAlgo); err != nil {
				return Value{}, ev.ferr("unknown hash algorithm '%s'", req.OutputHashAlgo)
			}
		}
	} else if req.ContentAddressed && req.Impure {
		return Value{}, ev.ferr("derivation cannot be both content-addressed and impure")
	}
	slices.Sort(outputs)
	req.Outputs = outputs
	if ev.opts.IO == nil {
		return Value{}, ev.ferr("cannot instantiate derivation '%s': no store available", name)
	}
	res, err := ev.opts.IO.AddDerivation(&req)
	if err != nil {
		return Value{}, ev.ioError(err, name)
	}
	out := []Attr{{Name: symDrvPath, Val: StringCtx(res.DrvPath, NewContext("="+res.DrvPath))}}
	for _, o := range outputs {
		out = append(out, Attr{Name: ev.syms.intern(o), Val: StringCtx(res.Outputs[o], NewContext("!"+o+"!"+res.DrvPath))})
	}
	return AttrsValue(newAttrs(out)), nil
}

func jsonQuote(s string) string {
	var b strings.Builder
	e := &Evaluator{}
	e.opts.Compat.JSONStrictUTF8 = true
	_ = e.jsonString(&b, s)
	return b.String()
}
