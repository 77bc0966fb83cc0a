//go:build linux

package sandbox

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// The seccomp filter is Nix 2.8's (setupSeccomp in
// local-derivation-goal.cc), assembled by hand: everything is allowed,
// except that chmod, fchmod, fchmodat (and fchmodat2, which would
// otherwise bypass the rule) fail with EPERM when the mode has S_ISUID or
// S_ISGID, and setxattr, lsetxattr and fsetxattr fail with ENOTSUP. On
// x86_64 the rules also cover the i386 and x32 system call tables.

// struct seccomp_data offsets.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16 // args[i] at offArgs+8*i; the low 32 bits come first (little endian)
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	x32Bit   = 0x40000000
	suidSgid = unix.S_ISUID | unix.S_ISGID
)

// sysTable lists, for one architecture, the system call numbers of the
// mode-setting calls (with the index of their mode argument) and of the
// xattr-setting calls.
type sysTable struct {
	arch  uint32
	mode  [][2]uint32 // {nr, mode argument index}
	xattr []uint32
	x32   bool // also match nr|x32Bit
}

var (
	tableAMD64 = sysTable{
		arch:  unix.AUDIT_ARCH_X86_64,
		mode:  [][2]uint32{{90, 1}, {91, 1}, {268, 2}, {452, 2}},
		xattr: []uint32{188, 189, 190},
		x32:   true,
	}
	table386 = sysTable{
		arch:  unix.AUDIT_ARCH_I386,
		mode:  [][2]uint32{{15, 1}, {94, 1}, {306, 2}, {452, 2}},
		xattr: []uint32{226, 227, 228},
	}
	tableARM64 = sysTable{
		arch:  unix.AUDIT_ARCH_AARCH64,
		mode:  [][2]uint32{{52, 1}, {53, 2}, {452, 2}},
		xattr: []uint32{5, 6, 7},
	}
)

func tables() ([]sysTable, error) {
	switch runtime.GOARCH {
	case "amd64":
		return []sysTable{tableAMD64, table386}, nil
	case "386":
		return []sysTable{table386}, nil
	case "arm64":
		return []sysTable{tableARM64}, nil
	}
	return nil, fmt.Errorf("seccomp filter: architecture %s is not supported", runtime.GOARCH)
}

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// tableProgram returns the rules of one table; it starts by loading the
// system call number and ends by allowing the call.
func tableProgram(t sysTable) []unix.SockFilter {
	prog := []unix.SockFilter{stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr)}
	var nrs []uint32
	add := func(nr uint32) []uint32 {
		if t.x32 {
			return []uint32{nr, nr | x32Bit}
		}
		return []uint32{nr}
	}
	for _, m := range t.mode {
		for _, nr := range add(m[0]) {
			nrs = append(nrs, nr)
			prog = append(prog,
				jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, 0, 4),
				stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArgs+8*m[1]),
				jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, suidSgid, 0, 1),
				stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)),
				stmt(unix.BPF_RET|unix.BPF_K, retAllow),
			)
		}
	}
	for _, x := range t.xattr {
		for _, nr := range add(x) {
			prog = append(prog,
				jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, 0, 1),
				stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOTSUP)),
			)
		}
	}
	return append(prog, stmt(unix.BPF_RET|unix.BPF_K, retAllow))
}

// filter assembles the whole program: dispatch on the architecture, then
// the rules of that architecture's table. Unknown architectures are
// allowed, as with libseccomp's default action.
func filter(ts []sysTable) []unix.SockFilter {
	bodies := make([][]unix.SockFilter, len(ts))
	for i, t := range ts {
		bodies[i] = tableProgram(t)
	}
	// Header: load arch; per table "jeq arch, 0, 1; ja body_i"; ret allow.
	hdr := 1 + 2*len(ts) + 1
	prog := []unix.SockFilter{stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)}
	start := hdr
	for i, t := range ts {
		pc := len(prog) + 1 // the ja's own position
		prog = append(prog,
			jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, t.arch, 0, 1),
			stmt(unix.BPF_JMP|unix.BPF_JA, uint32(start-pc-1)),
		)
		start += len(bodies[i])
	}
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, retAllow))
	for _, b := range bodies {
		prog = append(prog, b...)
	}
	return prog
}
