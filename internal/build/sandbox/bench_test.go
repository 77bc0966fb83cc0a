//go:build linux

package sandbox

import (
	"context"
	"testing"
)

// BenchmarkSandbox measures starting a sandbox that runs "true" and
// waiting for it, with and without a private network namespace.
func BenchmarkSandbox(b *testing.B) {
	if err := Check(context.Background(), b.TempDir()); err != nil {
		b.Skipf("SKIPPING: %v", err)
	}
	for _, net := range []bool{false, true} {
		name := "private-net"
		if net {
			name = "host-net"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				spec := Spec{Root: b.TempDir(), Network: net, HostUID: -1, HostGID: -1,
					Mounts: []Mount{{Source: busybox, Target: "/bin/busybox", ReadOnly: true}},
					Path:   "/bin/busybox", Args: []string{"true"}}
				p, err := Start(context.Background(), &spec)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
