// Command cairn is Nix rebuilt in Go. Everything lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"cairn/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
