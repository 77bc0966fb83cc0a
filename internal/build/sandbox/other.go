//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// On systems other than Linux there is no sandbox; Start and Check fail
// with ErrUnavailable so that callers can fall back to unsandboxed builds.

const InitArg0 = "cairn-sandbox-init"

var ErrUnavailable = errors.New("sandbox unavailable")

type Mount struct {
	Source, Target     string
	ReadOnly, Optional bool
}

type Spec struct {
	Root                 string
	Mounts               []Mount
	Files                map[string][]byte
	Network              bool
	Hostname, Domainname string
	Path                 string
	Args, Env            []string
	Dir                  string
	UID, GID             int
	HostUID, HostGID     int
	Stdout, Stderr       *os.File
	NoSeccomp            bool
	AllowNewPrivileges   bool
	Linux32              bool
	DevShmSize           string
	Skeletons            *Skeletons
	Spawner              *Spawner
}

type Spawner struct{}

func NewSpawner() *Spawner       { return &Spawner{} }
func (sp *Spawner) Close() error { return nil }

type ExitError struct{ Status syscall.WaitStatus }

func (e *ExitError) Error() string { return "exit status" }
func (e *ExitError) ExitCode() int { return e.Status.ExitStatus() }

type Skeletons struct{}

func NewSkeletons(parent string) *Skeletons { return &Skeletons{} }
func (k *Skeletons) Close() error           { return nil }

type Process struct{}

func (p *Process) Pid() int      { return 0 }
func (p *Process) Kill() error   { return nil }
func (p *Process) Wait() error   { return nil }
func MaybeRunInit(args []string) {}

func Start(ctx context.Context, spec *Spec) (*Process, error) {
	return nil, fmt.Errorf("start sandbox: not supported on %s: %w", runtime.GOOS, ErrUnavailable)
}

func StartDirect(ctx context.Context, spec *Spec) (*Process, error) {
	return nil, fmt.Errorf("start builder: not supported on %s", runtime.GOOS)
}

func Check(ctx context.Context, tmpDir string) error {
	return fmt.Errorf("check sandbox: not supported on %s: %w", runtime.GOOS, ErrUnavailable)
}

func HasKVM() bool { return false }

func OpenPty(uid int) (master, slave *os.File, err error) {
	return nil, nil, fmt.Errorf("open pseudoterminal: not supported on %s", runtime.GOOS)
}
