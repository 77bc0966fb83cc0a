package build_test

import (
	"context"
	"fmt"
	"os"

	"cairn/internal/build"
	"cairn/internal/build/sandbox"
	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// Example shows how a command realises derivations: main must call
// sandbox.MaybeRunInit first; the store reads the .drv files; LoadGraph
// turns them into Requests; a Scheduler builds them.
func Example() {
	sandbox.MaybeRunInit(os.Args) // first thing in main

	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer st.Close()
	drv, err := st.ParsePath("/nix/store/6n1nxr2pnbalfx90m7wsxyh2pm0l0cs1-simple.drv")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	g, err := build.LoadGraph(st.Dir(), func(p storepath.Path) (*derivation.Derivation, error) { return st.ReadDerivation(ctx, p) }, []storepath.Path{drv})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	s := &build.Scheduler{
		Builder:   build.New(st, build.Config{System: "x86_64-linux", MaxSilentTime: 0}),
		MaxJobs:   2,
		KeepGoing: true,
	}
	results, err := s.Realise(ctx, g, []storepath.Path{drv})
	if re, ok := err.(*build.RealiseError); ok {
		fmt.Fprintln(os.Stderr, re)
		os.Exit(re.ExitStatus())
	}
	for _, info := range results[drv].Outputs {
		fmt.Println(st.Dir().Print(info.Path))
	}
}
