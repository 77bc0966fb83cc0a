//go:build linux

package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// A netPool keeps the network namespaces of finished sandboxes that no
// build could tell from new ones, for the next sandboxes of a root
// spawner.
//
// Making a network namespace and tearing it down is the largest piece of
// kernel work in starting a trivial build (~0.7 ms of setup on the
// critical path, as much again in a kernel thread afterwards), and both
// take locks that concurrent builds wait on. A namespace is reused only
// if, once every process of its build is gone, what /proc/net shows of
// it (netFiles: interface and protocol counters, Unix sockets, flow
// labels) is byte for byte what it showed when it was made: a build that
// sent a packet, or left a socket, a TIME_WAIT connection or a flow
// label behind, leaves a namespace that is discarded. Builds cannot
// change a pooled namespace otherwise: it is owned by the spawner's user
// namespace, where they have no capabilities. What a build can still
// tell is that its namespace is not new (its inode number, its cookie),
// not anything another build did.
type netPool struct {
	host int // the spawner's own network namespace

	mu   sync.Mutex
	free []*netNS
}

// A netNS is a pooled network namespace: an open descriptor for it, its
// views (netFiles opened from inside it: a /proc/net file reads the
// namespace it was opened in, whoever reads it later, so a check needs
// no thread of its own and no setns), and what they showed when it was
// made.
type netNS struct {
	fd       int
	views    []netView
	pristine []byte
}

type netView struct {
	name string
	fd   int
}

// close closes ns and its views; with no sandbox in it, the namespace
// goes.
func (ns *netNS) close() {
	for _, v := range ns.views {
		unix.Close(v.fd)
	}
	if ns.fd >= 0 {
		unix.Close(ns.fd)
	}
}

// maxFreeNets is how many idle namespaces a pool keeps.
const maxFreeNets = 16

// newNetPool returns a pool for the calling process's network namespace.
func newNetPool() (*netPool, error) {
	fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	return &netPool{host: fd}, nil
}

// get returns an idle namespace, or a new one with "lo" up.
func (p *netPool) get() (*netNS, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		ns := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return ns, nil
	}
	p.mu.Unlock()
	ns := &netNS{fd: -1}
	err := p.inNew(func() error {
		if err := loopbackUp(); err != nil {
			return err
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ns.fd = fd
		ns.views, err = openViews()
		return err
	})
	if err == nil {
		ns.pristine, err = netSnapshot(ns.views)
	}
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("new network namespace: %w", err)
	}
	return ns, nil
}

// put takes ns back once every process in it is gone: into the pool if
// it is as it was made, closed (and so destroyed) otherwise.
func (p *netPool) put(ns *netNS) {
	now, err := netSnapshot(ns.views)
	p.mu.Lock()
	if err == nil && bytes.Equal(now, ns.pristine) && len(p.free) < maxFreeNets {
		p.free = append(p.free, ns)
		ns = nil
	}
	p.mu.Unlock()
	if ns != nil {
		ns.close()
	}
}

// inNew runs f on a thread of its own in a new network namespace, and
// returns the thread to the spawner's. A thread that cannot return ends
// with its goroutine.
func (p *netPool) inNew(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNET)
		if err == nil {
			err = f()
		}
		if serr := unix.Setns(p.host, unix.CLONE_NEWNET); serr != nil {
			errc <- fmt.Errorf("return to the spawner's network namespace: %w", serr)
			return // still locked: the thread exits
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// loopbackUp brings up "lo" in the calling thread's network namespace.
func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

// netFiles are the views of /proc/net compared before a namespace is
// reused. A build's packets go over "lo", the only interface, whose
// counters (dev) then change; a packet with no route changes the
// protocols' counters (snmp, snmp6: OutNoRoutes). sockstat counts every
// socket left in the namespace, whatever holds it, including Unix
// sockets in flight in a Unix socket and TIME_WAIT connections (some of
// its figures are machine-wide and are left out). IPv6 flow labels
// outlive their sockets for a while. The other views would add nothing
// and cost most of a check: netstat's counters (TcpExt, IpExt, MPTcpExt)
// and sockstat6's fragments need traffic, the unix table lists sockets
// sockstat counts, and TCP's, UDP's, raw's, routes and multicast need
// traffic or capabilities builds lack, or die with the sockets (and
// TCP's walks the machine's whole table, 3 ms a read).
var netFiles = []string{"dev", "snmp", "snmp6", "ip6_flowlabel", "sockstat"}

// machineWide are sockstat's figures that count every namespace.
var machineWide = map[string]bool{"orphan": true, "alloc": true, "mem": true}

// openViews opens netFiles in the calling thread's network namespace.
func openViews() ([]netView, error) {
	var vs []netView
	for _, name := range netFiles {
		fd, err := unix.Open("/proc/thread-self/net/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue // not in this kernel
		}
		if err != nil {
			for _, v := range vs {
				unix.Close(v.fd)
			}
			return nil, fmt.Errorf("open /proc/net/%s: %w", name, err)
		}
		vs = append(vs, netView{name, fd})
	}
	return vs, nil
}

// netSnapshot reads views afresh, from their start.
func netSnapshot(views []netView) ([]byte, error) {
	var b, buf []byte
	for _, v := range views {
		if _, err := unix.Seek(v.fd, 0, 0); err != nil {
			return nil, fmt.Errorf("read /proc/net/%s: %w", v.name, err)
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, make([]byte, 4096)...)[:len(buf)]
			}
			n, err := unix.Read(v.fd, buf[len(buf):cap(buf)])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read /proc/net/%s: %w", v.name, err)
			}
			if n == 0 {
				break
			}
			buf = buf[:len(buf)+n]
		}
		data := buf
		if v.name == "sockstat" {
			data = perNamespace(data)
		}
		b = binary.AppendUvarint(b, uint64(len(data)))
		b = append(b, data...)
	}
	return b, nil
}

// perNamespace drops sockstat's machine-wide figures (name value pairs).
func perNamespace(sockstat []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(sockstat, []byte("\n")) {
		f := bytes.Fields(line)
		for i := 0; i < len(f); i++ {
			if machineWide[string(f[i])] && i+1 < len(f) {
				i++
				continue
			}
			out = append(append(out, f[i]...), ' ')
		}
		out = append(out, '\n')
	}
	return out
}
