package underlay

import (
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/vtepd/vtep/internal/sys"
)

// pmtuTTL is how long a path MTU answer is reused. The kernel's vxlan
// reads dst_mtu for every packet; a second's delay in seeing a new route
// MTU or a learned path MTU is what a cache costs.
const pmtuTTL = time.Second

// pmtuMaxEntries bounds the cache; it is emptied when full.
const pmtuMaxEntries = 4096

// pmtuCache answers PathMTU through a UDP socket of the Conn's namespace
// and device that it connects to each destination in turn.
type pmtuCache struct {
	mu    sync.Mutex
	probe *os.File // nil when it could not be created
	port  uint16
	m     map[netip.Addr]pmtuEntry
}

type pmtuEntry struct {
	mtu int
	at  time.Time
}

// init opens the probe socket, in the calling thread's network namespace,
// bound to device when one is given. Failing leaves PathMTU answering 0.
func (p *pmtuCache) init(family int, port uint16, device string) {
	af := sys.AF_INET
	if family == 6 {
		af = sys.AF_INET6
	}
	p.port = port
	p.probe, _ = sys.Socket(af, sys.SOCK_DGRAM, sys.IPPROTO_UDP, "pmtu-probe", func(fd int) error {
		if device != "" {
			return sys.SetString(fd, sys.SOL_SOCKET, sys.SO_BINDTODEVICE, device)
		}
		return nil
	})
}

func (p *pmtuCache) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probe != nil {
		p.probe.Close()
		p.probe = nil
	}
}

// PathMTU returns the MTU of the route to dst: what IP_MTU (IPV6_MTU)
// reports for a UDP socket connected there, the route's MTU with any path
// MTU learned for it, as dst_mtu gives the kernel's vxlan. It is 0 when
// there is no route or dst is not of the Conn's family. Answers are kept
// for a second.
func (c *LinuxConn) PathMTU(dst netip.Addr) int {
	p := &c.pmtu
	dst = dst.Unmap()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.m[dst]; ok && now.Sub(e.at) < pmtuTTL {
		return e.mtu
	}
	mtu := p.query(c.family, dst)
	if p.m == nil || len(p.m) >= pmtuMaxEntries {
		p.m = make(map[netip.Addr]pmtuEntry)
	}
	p.m[dst] = pmtuEntry{mtu, now}
	return mtu
}

func (p *pmtuCache) query(family int, dst netip.Addr) int {
	if p.probe == nil || dst.Is4() != (family == 4) {
		return 0
	}
	rc, err := p.probe.SyscallConn()
	if err != nil {
		return 0
	}
	mtu := 0
	rc.Control(func(fd uintptr) {
		var err error
		if family == 4 {
			err = sys.Connect4(int(fd), dst.As4(), p.port)
		} else {
			err = sys.Connect6(int(fd), dst.As16(), p.port)
		}
		if err != nil {
			return
		}
		level, opt := sys.SOL_IP, sys.IP_MTU
		if family == 6 {
			level, opt = sys.SOL_IPV6, sys.IPV6_MTU
		}
		if v, err := sys.GetInt(int(fd), level, opt); err == nil {
			mtu = v
		}
	})
	return mtu
}
