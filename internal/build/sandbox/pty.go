//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenPty opens a pseudo-terminal for a builder's output, as Nix 2.8
// does: the slave is owned by uid (if the caller is root; -1 keeps it)
// with mode 0600 and put into raw mode, so that "\n" is not turned into
// "\r\n". Reading the master fails (EIO) once every copy of the slave
// is closed.
func OpenPty(uid int) (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening pseudoterminal master: %w", err)
	}
	fail := func(op string, err error) (*os.File, *os.File, error) {
		m.Close()
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	fd := int(m.Fd())
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("getting pseudoterminal number", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	if uid >= 0 && os.Geteuid() == 0 {
		if err := os.Chmod(name, 0o600); err != nil {
			return fail("changing mode of pseudoterminal slave", err)
		}
		if err := os.Chown(name, uid, 0); err != nil {
			return fail("changing owner of pseudoterminal slave", err)
		}
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlocking pseudoterminal", err)
	}
	s, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fail("opening pseudoterminal slave", err)
	}
	t, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		s.Close()
		return fail("getting pseudoterminal attributes", err)
	}
	// cfmakeraw(3)
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, t); err != nil {
		s.Close()
		return fail("putting pseudoterminal into raw mode", err)
	}
	return m, s, nil
}
