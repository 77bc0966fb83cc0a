package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cairn/internal/compat/storepath"
)

// Substituter fetches store paths from elsewhere (binary caches) instead
// of building them. Scheduler calls it before building a derivation
// whose outputs are not valid.
type Substituter interface {
	// Substitute tries to make every path in paths valid in the store.
	// It reports whether it did; false with a nil error means the paths
	// are not available and the derivation will be built.
	Substitute(ctx context.Context, paths []storepath.Path) (bool, error)
}

// Scheduler realises a derivation graph: for each derivation it skips
// valid outputs, then tries the Substituter, then realises the inputs
// and builds, running up to MaxJobs builders at once. Builds of the same
// outputs by other processes (cairn or Nix) are serialised by the
// per-path locks, and whoever comes second finds the outputs valid.
type Scheduler struct {
	Builder *Builder
	// MaxJobs is the number of builders run at once (< 1: one).
	MaxJobs int
	// KeepGoing goes on building what does not depend on a failure;
	// otherwise the first failure cancels the running builds.
	KeepGoing bool
	// Substituter, if not nil, is asked for outputs before building.
	Substituter Substituter
	// Check rebuilds the targets (not their inputs) and compares.
	Check bool

	// build replaces Builder.Build in tests.
	build func(ctx context.Context, req *Request, opts Options) (*Result, error)
}

// RealiseError reports the derivations that failed, in order of their
// paths. Derivations that were not built because an input failed are
// *Error with Kind DependencyFailed.
type RealiseError struct {
	Errs []error
}

func (e *RealiseError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

func (e *RealiseError) Unwrap() []error { return e.Errs }

// ExitStatus is the exit code Nix uses for these failures.
func (e *RealiseError) ExitStatus() int {
	var bes []*Error
	for _, err := range e.Errs {
		var be *Error
		if errors.As(err, &be) {
			bes = append(bes, be)
		}
	}
	return ExitStatus(bes...)
}

type goal struct {
	done chan struct{}
	res  *Result
	err  error
}

type realisation struct {
	s       *Scheduler
	g       Graph
	targets map[storepath.Path]bool
	jobs    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc

	mu    sync.Mutex
	goals map[storepath.Path]*goal
}

// Realise makes the outputs of targets (paths of g) valid and returns
// the result of each derivation of g that it visited. On failure the
// error is a *RealiseError and the results of what succeeded are still
// returned.
func (s *Scheduler) Realise(ctx context.Context, g Graph, targets []storepath.Path) (map[storepath.Path]*Result, error) {
	n := s.MaxJobs
	if n < 1 {
		n = 1
	}
	r := &realisation{s: s, g: g, targets: map[storepath.Path]bool{}, jobs: make(chan struct{}, n), goals: map[storepath.Path]*goal{}}
	r.ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	for _, t := range targets {
		r.targets[t] = true
	}
	var wait []*goal
	for _, t := range targets {
		wait = append(wait, r.goal(t))
	}
	for _, gl := range wait {
		<-gl.done
	}
	results := map[storepath.Path]*Result{}
	var errs []error
	paths := make([]storepath.Path, 0, len(r.goals))
	for p := range r.goals {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, storepath.Compare)
	for _, p := range paths {
		gl := r.goals[p]
		<-gl.done
		switch {
		case gl.err == nil:
			results[p] = gl.res
		case errors.Is(gl.err, context.Canceled) && ctx.Err() == nil:
			// Stopped because something else failed.
		default:
			errs = append(errs, gl.err)
		}
	}
	if len(errs) > 0 {
		return results, &RealiseError{Errs: errs}
	}
	return results, nil
}

// goal returns the goal of drv, starting it if needed.
func (r *realisation) goal(drv storepath.Path) *goal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gl, ok := r.goals[drv]; ok {
		return gl
	}
	gl := &goal{done: make(chan struct{})}
	r.goals[drv] = gl
	go func() {
		defer close(gl.done)
		gl.res, gl.err = r.realise(drv)
		if gl.err != nil && !r.s.KeepGoing {
			r.cancel()
		}
	}()
	return gl
}

func (r *realisation) realise(drv storepath.Path) (*Result, error) {
	b := r.s.Builder
	ctx := r.ctx
	node, ok := r.g[drv]
	if !ok {
		return nil, fmt.Errorf("realise %s: derivation is not in the build graph", b.print(drv))
	}
	req := node.Request
	check := r.s.Check && r.targets[drv]
	if !check {
		valid, err := b.validOutputs(ctx, req)
		if err != nil {
			return nil, err
		}
		if len(valid) == len(req.Outputs) {
			return &Result{Status: AlreadyValid, Outputs: valid}, nil
		}
		if r.s.Substituter != nil && req.AllowSubstitutes {
			ok, err := r.s.Substituter.Substitute(ctx, outputPaths(req))
			if err != nil {
				return nil, fmt.Errorf("substitute outputs of %s: %w", b.print(drv), err)
			}
			if ok {
				valid, err := b.validOutputs(ctx, req)
				if err != nil {
					return nil, err
				}
				if len(valid) == len(req.Outputs) {
					return &Result{Status: Substituted, Outputs: valid}, nil
				}
			}
		}
	}
	var deps []*goal
	for _, d := range node.Deps {
		deps = append(deps, r.goal(d))
	}
	failed := 0
	for _, d := range deps {
		<-d.done
		if d.err != nil {
			failed++
		}
	}
	if failed > 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Kind: DependencyFailed, Drv: b.print(drv), Msg: fmt.Sprintf(
			"%d dependencies of derivation '%s' failed to build", failed, b.print(drv))}
	}
	select {
	case r.jobs <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.jobs }()
	build := b.Build
	if r.s.build != nil {
		build = r.s.build
	}
	return build(ctx, req, Options{Check: check})
}
