package regex

import (
	"strings"
	"testing"
)

var long = strings.Repeat("-DSQLITE_ENABLE_COLUMN_METADATA ", 1000) + "-DSQLITE_ENABLE_FTS3 end"

func BenchmarkMatchDotStarLong(b *testing.B) {
	re, _ := Compile(".*-DSQLITE_ENABLE_FTS3.*")
	b.SetBytes(int64(len(long)))
	for b.Loop() {
		if _, ok := re.Match(long); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchShort(b *testing.B) {
	re, _ := Compile("^([0-9][0-9.]*)(.*)$")
	for b.Loop() {
		re.Match("10.2.3-rc1")
	}
}

func BenchmarkSplitLong(b *testing.B) {
	re, _ := Compile("[[:space:]]+")
	b.SetBytes(int64(len(long)))
	for b.Loop() {
		re.Split(long)
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		Compile("git\\+([^?]+)(\\?(rev|tag|branch)=(.*))?#(.*)")
	}
}
