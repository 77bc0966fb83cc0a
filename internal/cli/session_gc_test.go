package cli

import (
	"os"
	"strings"
	"testing"
)

// TestMemoryLimit checks that sysinfo(2) gives half of /proc/meminfo's
// MemTotal.
func TestMemoryLimit(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("SKIPPING: no /proc/meminfo: %v", err)
	}
	var kb int64
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) {
				kb = kb*10 + int64(c-'0')
			}
		}
	}
	if got, want := memoryLimit(), kb*1024/2; got != want {
		t.Errorf("memoryLimit() = %d, want %d (MemTotal %d kB)", got, want, kb)
	}
}
