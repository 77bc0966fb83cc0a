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
	p := &Process{cmd: cmd, group: true, waited: make(chan error, 1)}
	// The builder's parent-death signal follows the forking thread
	// (startLocked). Before the builder is reaped, while its pid still
	// names its session (a zombie keeps the number reserved), what is
	// left of the session is killed.
	err := startLocked(cmd, p.waited, func() {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				break
			}
		}
		p.mu.Lock()
		killGroup(cmd.Process.Pid)
		p.reaped = true
		p.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("executing '%s': %w", spec.Path, err)
	}
	return p, nil
}

// killGroup kills the session (process group) led by pid.
func killGroup(pid int) error { return unix.Kill(-pid, unix.SIGKILL) }

// HasKVM reports whether /dev/kvm is usable (Nix then offers the "kvm"
// system feature and puts the device in the sandbox).
func HasKVM() bool { return unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) == nil }
