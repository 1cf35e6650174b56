package vtep

import (
	"net/netip"
	"sync/atomic"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/underlay"
)

// socket is the underlay Conns shared by the links with the same SocketKey
// (the kernel's vxlan_sock): one per worker, bound to the same port
// (SO_REUSEPORT). Each Conn has its own receive routine, which
// demultiplexes packets to links by VNI; transmit routine q of a link
// writes to Conn q modulo their number.
type socket struct {
	host  *Host
	key   SocketKey
	conns []underlay.Conn
	conn  underlay.Conn // conns[0]

	refs int // links using it; guarded by host.mu

	vnis atomic.Pointer[vniTable]

	// Receive-side behaviour, fixed by the key and the Conn.
	external     bool // COLLECT_METADATA without VNIFILTER: every VNI maps to 0
	zeroCsum6OK  bool // UDP_ZERO_CSUM6_RX
	csumVerified bool // the Conn verifies UDP checksums
	// payloadVerified: every Conn delivers only packets whose non-zero
	// UDP checksum it verified (PayloadVerifier).
	payloadVerified bool
	txCsumOffload   bool      // the Conn computes UDP checksums
	pmtu            PathMTUer // the Conn's path MTUs, or nil

	ipID atomic.Uint32 // IPv4 identification counter
}

// vniTable maps VNIs to the links that receive them. It is immutable and
// replaced on every change (rebuildLocked).
type vniTable struct {
	// one is the only link, for the common single-link socket.
	one    *Link
	oneVNI header.VNI
	m      map[header.VNI]*Link
	// ll holds the IPv6 link-local links (VXLAN_F_IPV6_LINKLOCAL), which
	// receive a VNI only from their own lower device: several of them may
	// share a VNI, one per device (vxlan_vni_in_use). nil when none.
	ll map[vniIf]*Link
}

// vniIf is a VNI received on one interface.
type vniIf struct {
	vni     header.VNI
	ifindex int
}

func newSocket(h *Host, k SocketKey, conns []underlay.Conn) *socket {
	conn := conns[0]
	s := &socket{
		host:        h,
		key:         k,
		conns:       conns,
		conn:        conn,
		refs:        1,
		external:    k.Flags&config.FlagCollectMetadata != 0 && k.Flags&config.FlagVNIFilter == 0,
		zeroCsum6OK: k.Flags&config.FlagUDPZeroCsum6RX != 0,
	}
	if v, ok := conn.(ChecksumVerifier); ok {
		s.csumVerified = v.RXChecksumVerified()
	}
	if o, ok := conn.(ChecksumOffloader); ok {
		s.txCsumOffload = o.TXChecksumOffload()
	}
	s.pmtu, _ = conn.(PathMTUer)
	s.payloadVerified = true
	for _, c := range conns {
		if v, ok := c.(PayloadVerifier); !ok || !v.RXPayloadVerified() {
			s.payloadVerified = false
		}
	}
	s.vnis.Store(&vniTable{})
	return s
}

// rebuildLocked recomputes the VNI table from the host's links. The host
// lock is held.
func (s *socket) rebuildLocked() {
	t := &vniTable{m: make(map[header.VNI]*Link)}
	for _, l := range s.host.links {
		if !l.up.Load() || !l.socks.Load().uses(s) {
			continue
		}
		st := l.state.Load()
		add := func(v header.VNI) {
			if st.linkLocal {
				if t.ll == nil {
					t.ll = make(map[vniIf]*Link)
				}
				t.ll[vniIf{v, st.ifindex}] = l
			} else {
				t.m[v] = l
			}
		}
		switch {
		case st.cfg.VNIFilter:
			for v := range l.vniFilter.Load().stats {
				add(v)
			}
		case s.external:
			add(0)
		default:
			add(st.vni)
		}
	}
	if len(t.m) == 1 {
		for v, l := range t.m {
			t.one, t.oneVNI = l, v
		}
	}
	s.vnis.Store(t)
}

// lookup returns the link receiving vni from interface ifindex
// (vxlan_vs_find_vni): external sockets without vnifilter map every VNI to
// 0, and an IPv6 link-local link receives only from its lower device
// (remote_ifindex == skb->dev->ifindex), before any other link of the VNI.
func (s *socket) lookup(vni header.VNI, ifindex int) (*Link, *VNIStats) {
	if s.external {
		vni = 0
	}
	t := s.vnis.Load()
	l := t.one
	if l == nil || t.oneVNI != vni {
		l = t.m[vni]
	}
	if t.ll != nil {
		if ll := t.ll[vniIf{vni, ifindex}]; ll != nil {
			l = ll
		}
	}
	if l == nil {
		return nil, nil
	}
	return l, l.vniStatsFor(l.state.Load(), vni)
}

// connFor returns the Conn transmit routine q writes to.
func (s *socket) connFor(q int) underlay.Conn { return s.conns[q%len(s.conns)] }

// joinGroup joins group on every Conn: each one sends multicast from the
// interface its join chose (IP_MULTICAST_IF), and the kernel's membership
// is counted per socket. Every Conn receives the group's datagrams anyway
// (IP_MULTICAST_ALL); receive workers other than the first ignore them.
func (s *socket) joinGroup(group netip.Addr, ifindex int) error {
	for i, c := range s.conns {
		if err := c.JoinGroup(group, ifindex); err != nil {
			for _, j := range s.conns[:i] {
				j.LeaveGroup(group, ifindex)
			}
			return err
		}
	}
	return nil
}

// leaveGroup leaves group on every Conn.
func (s *socket) leaveGroup(group netip.Addr, ifindex int) error {
	var first error
	for _, c := range s.conns {
		if err := c.LeaveGroup(group, ifindex); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close closes every Conn, which ends the receive routines.
func (s *socket) close() {
	for _, c := range s.conns {
		c.Close()
	}
}
