// Package build realises derivations: it runs a builder (in the Linux
// sandbox of package sandbox, or directly) for a normalised derivation,
// a Request, then canonicalises, hashes, scans and checks the outputs
// and registers them in the store, as Nix 2.8's LocalDerivationGoal
// does. A Scheduler realises a graph of Requests with a job limit,
// keep-going, substitution and per-path locks shared with other
// processes.
//
// build never sees a derivation.Derivation in its core: FromDerivation
// and LoadGraph are the adapters that turn .drv files into Requests.
//
// Differences from Nix 2.8 (on purpose):
//   - A fixed-output hash mismatch registers nothing (2.8 registers the
//     path it got before failing).
//   - NIX_ATTRS_JSON_FILE and NIX_ATTRS_SH_FILE point into the sandbox's
//     /build (2.8 exports the host path, which does not exist inside).
//   - There is no fallback to an unsandboxed build when namespaces are
//     unavailable: the error says how to enable them.
package build

import (
	"fmt"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// Request is a normalised derivation: everything needed to run its
// builder and check and register its outputs.
type Request struct {
	// DrvPath names the build: logs, the chroot, the deriver of the
	// outputs, error messages.
	DrvPath storepath.Path
	// Name is the derivation's name (DrvPath's name without ".drv").
	Name     string
	Platform string
	Builder  string
	Args     []string
	// Env is the derivation's environment as written in the .drv. With
	// structured attributes it is not passed to the builder (only
	// StructuredAttrs is).
	Env map[string]string
	// Outputs maps output names to their paths and, for fixed-output
	// derivations, the expected hash.
	Outputs map[string]Output
	// Inputs are the store paths the builder uses (input sources and
	// the outputs of input derivations); their closure is made visible.
	Inputs []storepath.Path
	// PassAsFile names Env entries passed as files (<name>Path).
	PassAsFile []string
	// StructuredAttrs is the __json attribute (structured attributes),
	// nil if the derivation has none.
	StructuredAttrs []byte
	// Checks holds the reference and size checks of each output.
	Checks map[string]OutputChecks
	// ImpureEnvVars are copied from Config.ImpureEnv into the builder's
	// environment of fixed-output derivations.
	ImpureEnvVars []string
	// NoChroot is __noChroot: build without the sandbox (refused unless
	// Config.AllowNoChroot).
	NoChroot               bool
	RequiredSystemFeatures []string
	// ExportReferencesGraph maps file names (plain attributes) or
	// attribute names (structured) to store paths whose closures the
	// builder gets: as nix-store --register-validity text in a file of
	// the build directory, or as path-info JSON in .attrs.json.
	ExportReferencesGraph map[string][]storepath.Path
	// AllowSubstitutes is false for allowSubstitutes = false.
	AllowSubstitutes bool
	PreferLocalBuild bool
}

// Output is one output of a Request.
type Output struct {
	Path storepath.Path
	// Fixed, if not nil, is the expected content of a fixed-output
	// derivation's output.
	Fixed *FixedHash
}

// FixedHash is the declared content hash of a fixed output.
type FixedHash struct {
	Method storepath.Method
	Hash   nixhash.Hash
}

// IsFixedOutput reports whether r is a fixed-output derivation (which
// gets the network and must have exactly the declared content).
func (r *Request) IsFixedOutput() bool {
	for _, o := range r.Outputs {
		if o.Fixed != nil {
			return true
		}
	}
	return false
}

// OutputChecks are the allowed/disallowed references and requisites and
// size limits of one output. A nil list means no check; entries are
// store paths or output names of the same derivation.
type OutputChecks struct {
	// IgnoreSelfRefs drops the output itself from its requisites (plain
	// attributes; structured outputChecks keep it).
	IgnoreSelfRefs                             bool
	MaxSize, MaxClosureSize                    *uint64
	AllowedReferences, AllowedRequisites       []string
	DisallowedReferences, DisallowedRequisites []string
}

// Status says how a Request's outputs became valid.
type Status int

const (
	Built        Status = iota + 1 // the builder ran
	AlreadyValid                   // nothing to do
	Substituted                    // a substituter provided the outputs
	Checked                        // rebuilt in check mode and found identical
)

func (s Status) String() string {
	switch s {
	case Built:
		return "built"
	case AlreadyValid:
		return "already valid"
	case Substituted:
		return "substituted"
	case Checked:
		return "checked"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of a successful build.
type Result struct {
	Status Status
	// Outputs are the registered outputs, by output name.
	Outputs map[string]*store.PathInfo
	// LogFile is where the build log was stored ("" if none was
	// written).
	LogFile     string
	Start, Stop time.Time
}

// ErrorKind classifies build failures (Nix's exit codes 100-104 are
// derived from it).
type ErrorKind int

const (
	Failed           ErrorKind = iota + 1 // builder failed or outputs were rejected
	TimedOut                              // timeout or max-silent-time
	HashMismatch                          // fixed-output hash mismatch
	NotDeterministic                      // check mode found different output
	DependencyFailed                      // an input could not be built
)

// Error is a build failure.
type Error struct {
	Kind ErrorKind
	Drv  string // printed derivation path
	Msg  string // the message, log tail included
	Err  error  // cause, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// ExitStatus returns the exit code Nix's worker uses after errs: 100
// for failed builds, plus 1 if one timed out and 2 if a fixed-output hash
// mismatched; 104 for a check-mode difference (108 with other
// failures); 1 if there is no build error.
func ExitStatus(errs ...*Error) int {
	mask := 0
	for _, e := range errs {
		switch e.Kind {
		case TimedOut:
			mask |= 0x04 | 0x01
		case HashMismatch:
			mask |= 0x04 | 0x02
		case NotDeterministic:
			mask |= 0x08
		default:
			mask |= 0x04
		}
	}
	if mask == 0 {
		return 1
	}
	return mask | 0x60
}
