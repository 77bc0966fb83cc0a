package build

import "context"

// Observer is told when a Scheduler starts and finishes running a build
// (not for outputs that were already valid or substituted). Its methods
// are called from the goroutines of concurrent builds.
type Observer interface {
	BuildStarted(req *Request, opts Options)
	BuildFinished(req *Request, res *Result, err error)
}

// Observe makes s report every build it runs to o. Call it before
// Realise.
func (s *Scheduler) Observe(o Observer) {
	inner := s.build
	if inner == nil {
		inner = s.Builder.Build
	}
	s.build = func(ctx context.Context, req *Request, opts Options) (*Result, error) {
		o.BuildStarted(req, opts)
		res, err := inner(ctx, req, opts)
		o.BuildFinished(req, res, err)
		return res, err
	}
}
