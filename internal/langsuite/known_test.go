package langsuite

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// knownFailuresHeader opens known-failures.txt; -update writes it back unchanged.
const knownFailuresHeader = `# Tests of ../shared/conformance/nix-lang that cairn instantiate fails today.
# Format: KIND TEST-NAME  # reason
# This list only shrinks: TestLang fails when a test not listed here fails, and when a listed
# test passes (remove its line). go test ./internal/langsuite -update rewrites the list from a
# run, keeping the reasons of lines that stay.
`

// knownFailure is one line of known-failures.txt.
type knownFailure struct {
	kind, name, reason string
}

// parseKnownFailures reads known-failures.txt: "kind name  # reason" per line; blank lines and
// lines starting with # are ignored. Entries are keyed by suiteCase.key.
func parseKnownFailures(r io.Reader) (map[string]knownFailure, error) {
	known := make(map[string]knownFailure)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields, reason, _ := strings.Cut(line, "#")
		f := strings.Fields(fields)
		if len(f) != 2 || !slices.Contains(kinds, f[0]) {
			return nil, fmt.Errorf("known-failures.txt:%d: want \"KIND TEST-NAME  # reason\" with KIND one of %s, got %q",
				n, strings.Join(kinds, ", "), line)
		}
		k := knownFailure{kind: f[0], name: f[1], reason: strings.TrimSpace(reason)}
		key := suiteCase{k.kind, k.name}.key()
		if _, dup := known[key]; dup {
			return nil, fmt.Errorf("known-failures.txt:%d: %s listed twice", n, key)
		}
		known[key] = k
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading known-failures.txt: %w", err)
	}
	return known, nil
}

// formatKnownFailures writes the list, sorted by kind (in suite order) then name.
func formatKnownFailures(w io.Writer, list []knownFailure) error {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b knownFailure) int {
		if c := slices.Index(kinds, a.kind) - slices.Index(kinds, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	bw := bufio.NewWriter(w)
	bw.WriteString(knownFailuresHeader)
	for _, k := range list {
		line := k.kind + " " + k.name
		if k.reason != "" {
			line += "  # " + k.reason
		}
		bw.WriteString(line + "\n")
	}
	return bw.Flush()
}
