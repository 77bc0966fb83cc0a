package build

import (
	"context"
	"strconv"
	"testing"

	"cairn/internal/compat/storepath"
)

// BenchmarkTrivialBuild measures one sandboxed build of a derivation
// whose builder only writes $out: the fixed cost of a build (locks,
// chroot, namespaces, exec, hashing, registration).
func BenchmarkTrivialBuild(b *testing.B) {
	needSandbox(b)
	e := newEnv(b, Config{NoLogFile: true})
	var drvs []storepath.Path
	for i := 0; i < b.N; i++ {
		drvs = append(drvs, e.drv(drvSpec{name: "trivial-" + strconv.Itoa(i), script: "echo " + strconv.Itoa(i) + " > $out"}))
	}
	b.ResetTimer()
	for _, d := range drvs {
		if _, err := e.b.Build(context.Background(), e.request(d), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
