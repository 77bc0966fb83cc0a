package build

import (
	"fmt"
	"path/filepath"
	"strings"

	"cairn/internal/build/sandbox"
)

// ParseSandboxPaths parses Nix's sandbox-paths entries: "path" binds a
// host path at the same place, "target=source" binds source at target,
// and a trailing "?" makes the entry optional (skipped if source does
// not exist). The mounts are read-only: a builder that runs as the
// owner of the host files (no separate build user) must not be able to
// change them.
func ParseSandboxPaths(entries []string) ([]sandbox.Mount, error) {
	var ms []sandbox.Mount
	for _, e := range entries {
		m := sandbox.Mount{ReadOnly: true}
		if rest, ok := strings.CutSuffix(e, "?"); ok {
			m.Optional, e = true, rest
		}
		if target, source, ok := strings.Cut(e, "="); ok {
			m.Target, m.Source = target, source
		} else {
			m.Target, m.Source = e, e
		}
		if !filepath.IsAbs(m.Target) || !filepath.IsAbs(m.Source) {
			return nil, fmt.Errorf("parse sandbox-paths entry %q: paths must be absolute", e)
		}
		ms = append(ms, m)
	}
	return ms, nil
}
