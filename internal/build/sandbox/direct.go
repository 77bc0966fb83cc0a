//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// StartDirect runs spec.Path without any isolation (Nix's sandbox =
// false): as the caller, in spec.Dir, with exactly spec.Env, in a new
// session whose processes Kill kills together. Root, Mounts, Network,
// the ids and the seccomp options are ignored.
func StartDirect(ctx context.Context, spec *Spec) (*Process, error) {
	cmd := &exec.Cmd{
		Path: spec.Path, Args: spec.Args, Env: spec.Env, Dir: spec.Dir,
		// The builder dies with cairn (as in Nix); what it started in
		// its session survives a SIGKILLed cairn: only the sandbox's PID
		// namespace takes those down too.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL},
	}
	if spec.Stdout != nil {
		cmd.Stdout = spec.Stdout
	}
	if spec.Stderr != nil {
		cmd.Stderr = spec.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("executing '%s': %w", spec.Path, err)
	}
	return &Process{cmd: cmd, group: true}, nil
}

// killGroup kills the session (process group) led by pid.
func killGroup(pid int) error { return unix.Kill(-pid, unix.SIGKILL) }

// HasKVM reports whether /dev/kvm is usable (Nix then offers the "kvm"
// system feature and puts the device in the sandbox).
func HasKVM() bool { return unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) == nil }
