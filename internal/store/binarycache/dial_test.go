package binarycache

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFewDials: no more than n dials are in flight at once, the others
// wait (or give up with their context).
func TestFewDials(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	dial := fewDials(func(ctx context.Context, network, addr string) (net.Conn, error) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		inFlight.Add(-1)
		return nil, nil
	}, 2)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dial(context.Background(), "tcp", "127.0.0.1:1")
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if got := inFlight.Load(); got != 2 {
		t.Errorf("%d dials in flight, want 2", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dial(ctx, "tcp", "127.0.0.1:1"); err != context.Canceled {
		t.Errorf("a cancelled waiting dial gave %v", err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak %d dials in flight, want 2", p)
	}
}
