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
	mu     sync.Mutex
	probe  *os.File // nil when it could not be created
	port   uint16
	device bool // the probe is bound to the Conn's device
	bound  int  // the interface the probe is bound to when !device
	m      map[pmtuKey]pmtuEntry
}

// pmtuKey is a route lookup's destination and output interface.
type pmtuKey struct {
	dst netip.Addr
	oif int
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
	p.device = device != ""
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

// PathMTU returns the MTU of the route to dst out of interface oif (0: any,
// as the routing tables choose): what IP_MTU (IPV6_MTU) reports for a UDP
// socket bound to oif and connected to dst, the route's MTU with any path
// MTU learned for it, as dst_mtu gives the kernel's vxlan for the route
// vxlan_get_route or vxlan6_get_route looks up with flowi_oif set to the
// remote's interface. A link-local dst takes oif as its scope. It is 0 when
// there is no route or dst is not of the Conn's family. Answers are kept for
// a second.
func (c *LinuxConn) PathMTU(dst netip.Addr, oif int) int {
	p := &c.pmtu
	k := pmtuKey{dst.Unmap(), oif}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.m[k]; ok && now.Sub(e.at) < pmtuTTL {
		return e.mtu
	}
	mtu := p.query(c.family, k)
	if p.m == nil || len(p.m) >= pmtuMaxEntries {
		p.m = make(map[pmtuKey]pmtuEntry)
	}
	p.m[k] = pmtuEntry{mtu, now}
	return mtu
}

func (p *pmtuCache) query(family int, k pmtuKey) int {
	dst := k.dst
	if p.probe == nil || dst.Is4() != (family == 4) {
		return 0
	}
	rc, err := p.probe.SyscallConn()
	if err != nil {
		return 0
	}
	mtu := 0
	rc.Control(func(fd uintptr) {
		if !p.device && k.oif != p.bound {
			// SO_BINDTOIFINDEX 0 unbinds.
			if sys.SetInt(int(fd), sys.SOL_SOCKET, sys.SO_BINDTOIFINDEX, k.oif) != nil {
				return
			}
			p.bound = k.oif
		}
		var err error
		if family == 4 {
			err = sys.Connect4(int(fd), dst.As4(), p.port)
		} else {
			scope := uint32(0)
			if dst.IsLinkLocalUnicast() {
				scope = uint32(k.oif)
			}
			err = sys.Connect6(int(fd), dst.As16(), p.port, scope)
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
