// Command cairn is Nix rebuilt in Go. Everything lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"cairn/internal/build/sandbox"
	"cairn/internal/cli"
)

func main() {
	// A sandboxed build re-executes this binary as the sandbox init.
	sandbox.MaybeRunInit(os.Args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.MainThenExit(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
