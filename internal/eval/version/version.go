// Package version implements Nix's package-version semantics:
// builtins.compareVersions, builtins.splitVersion and builtins.parseDrvName,
// as defined by Nix's src/libstore/names.cc.
//
// A version string is split into components. Dots and dashes separate
// components and are dropped; a component is a maximal run of ASCII digits, or
// a maximal run of other bytes that are neither digits nor separators. Two
// components compare as follows, first rule that applies:
//
//   - both numeric: numerically;
//   - the empty component (the string ran out) is older than a number;
//   - "pre" is older than anything but "pre";
//   - a non-number is older than a number ("2.3a" < "2.3.1");
//   - otherwise bytewise.
//
// "Numeric" means the digit run fits in a C int (int32); a longer run, such as
// a date-and-time stamp "20231021200112", compares as a string, as in Nix.
// All functions work on bytes; only ASCII letters and digits are classified.
package version

import "strings"

// Compare compares two version strings as builtins.compareVersions does. It
// returns -1 if a is older than b, 0 if they are equal, and 1 if a is newer.
func Compare(a, b string) int {
	for pa, pb := 0, 0; pa < len(a) || pb < len(b); {
		var ca, cb string
		ca, pa = next(a, pa)
		cb, pb = next(b, pb)
		if componentLess(ca, cb) {
			return -1
		}
		if componentLess(cb, ca) {
			return 1
		}
	}
	return 0
}

// Split returns the components of v, as builtins.splitVersion does:
// Split("1.2.3pre") is ["1" "2" "3" "pre"]. Splitting stops at the first empty
// component, so trailing separators are ignored.
func Split(v string) []string {
	var out []string
	for p := 0; p < len(v); {
		var c string
		c, p = next(v, p)
		if c == "" {
			break
		}
		out = append(out, c)
	}
	return out
}

// ParseDrvName splits a derivation name into name and version as
// builtins.parseDrvName does: at the first '-' that is followed by a byte that
// is not an ASCII letter. Without such a dash the version is empty:
// "nix-0.12pre1" gives ("nix", "0.12pre1") and "hello" gives ("hello", "").
func ParseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isAlpha(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// next skips separators at s[p:] and returns the following component and the
// position after it.
func next(s string, p int) (string, int) {
	for p < len(s) && (s[p] == '.' || s[p] == '-') {
		p++
	}
	start := p
	if p < len(s) && isDigit(s[p]) {
		for p < len(s) && isDigit(s[p]) {
			p++
		}
	} else {
		for p < len(s) && !isDigit(s[p]) && s[p] != '.' && s[p] != '-' {
			p++
		}
	}
	return s[start:p], p
}

// componentLess is names.cc componentsLT.
func componentLess(c1, c2 string) bool {
	n1, ok1 := number(c1)
	n2, ok2 := number(c2)
	switch {
	case ok1 && ok2:
		return n1 < n2
	case c1 == "" && ok2:
		return true
	case c1 == "pre" && c2 != "pre":
		return true
	case c2 == "pre":
		return false
	case ok2:
		return true
	case ok1:
		return false
	default:
		return strings.Compare(c1, c2) < 0
	}
}

// number parses c as Nix's string2Int<int> would a component: a non-empty run
// of digits whose value fits in an int32.
func number(c string) (int32, bool) {
	if c == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(c); i++ {
		if !isDigit(c[i]) {
			return 0, false
		}
		n = n*10 + int64(c[i]-'0')
		if n > 1<<31-1 {
			return 0, false
		}
	}
	return int32(n), true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isAlpha(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
