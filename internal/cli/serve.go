package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"cairn/internal/store/cacheserver"
)

// ServeOptions are the flags of `cairn serve`, which serves the local
// store as a binary cache over HTTP (like nix-serve and harmonia), build
// logs included (GET /log/<drv base name>, as nix log --store fetches them).
type ServeOptions struct {
	F     *Factory
	Store StoreFlags

	Listen      string // --listen ADDR (default 127.0.0.1:5000)
	SignKey     string // --sign-key FILE
	Priority    int    // --priority N (nix-cache-info)
	Compression string // --compression none|zstd
	// Ready, if set, is called with the address once the server listens
	// (tests).
	Ready func(addr string)
}

func newServeCmd(f *Factory, runF func(*ServeOptions) error) func([]string) error {
	return func(args []string) error {
		o := &ServeOptions{F: f, Listen: "127.0.0.1:5000", Compression: "none"}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--help":
				return printUsage(f, "serve", "serve the store as a binary cache over HTTP")
			case "--listen", "-l":
				o.Listen, err = s.value(arg)
			case "--sign-key":
				o.SignKey, err = s.value(arg)
			case "--compression":
				o.Compression, err = s.value(arg)
			case "--priority":
				var v string
				if v, err = s.value(arg); err == nil {
					if o.Priority, err = strconv.Atoi(v); err != nil {
						err = &usageError{f.Prog, fmt.Sprintf("flag '--priority' requires an integer, got '%s'", v)}
					}
				}
			default:
				err = storeArg(s, arg, &o.Store, &pos)
			}
			if err != nil {
				return err
			}
		}
		if len(pos) > 0 {
			return &usageError{f.Prog, fmt.Sprintf("unexpected argument '%s'", pos[0])}
		}
		switch o.Compression {
		case "none", "zstd":
		default:
			return &usageError{f.Prog, fmt.Sprintf("unknown compression '%s' (want none or zstd)", o.Compression)}
		}
		return runF(o)
	}
}

// runServe serves the store until ctx is cancelled, then shuts the
// server down, letting running requests finish for a few seconds.
func runServe(ctx context.Context, o *ServeOptions) error {
	f := o.F
	st, err := openStore(ctx, f, &o.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := cacheserver.Options{Priority: o.Priority, WantMassQuery: true, Compression: o.Compression}
	if o.SignKey != "" {
		sk, err := readSecretKeyFile(f, o.SignKey)
		if err != nil {
			return err
		}
		opts.SecretKey = &sk
	}
	h, err := cacheserver.New(st, opts)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	fmt.Fprintf(f.Stderr, "serving %s as a binary cache on http://%s\n", st.Dir(), ln.Addr())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
