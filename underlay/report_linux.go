package underlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/vtepd/vtep/internal/sys"
)

// MulticastReporter asks the kernel's multicast routing daemon for a route
// for a packet vtep would send to a group, as the kernel's vxlan does for
// a link with mcroute when ip_mr_output finds no cache entry for it: the
// kernel queues the packet and reports it to the daemon
// (ipmr_cache_unresolved, IGMPMSG_NOCACHE; ip6mr_cache_unresolved,
// MRT6MSG_NOCACHE), which may answer with an (S, G) entry.
//
// A packet from user space reaches that code only as the copy that
// multicast loopback gives the host's own input path (ip_mc_output,
// ip6_finish_output2 → ip_mr_input, ip6_mr_input), which the kernel
// reports just the same, with the vif of the output device. Report sends
// the packet's UDP payload from the packet's source to its group out of
// its device with loopback on and a TTL (hop limit) of 0: the kernel drops
// a multicast packet with TTL 0 after looping it ("must not go beyond the
// host"), so it never leaves, and routing never forwards the queued copy
// (no threshold is below 0). The destination port is the reporter's own,
// which nothing listens on, so the looped copy is not delivered to vtep's
// own group sockets either. The daemon sees the packet's (S, G) and vif,
// which is all a route needs.
//
// With a route, the looped copy is counted in the cache entry as the
// packet itself would have been (ip_mr_forward counts before anything
// else: packets, bytes, last use), and, its TTL being 0, forwarded
// nowhere; so Report also gives the kernel's counters the packets vtep
// forwards itself.
//
// Send then sends a packet the datapath held while it waited for the
// route, as the kernel sends its queued packets once the daemon installs
// the (S, G) entry (ipmr_cache_resolve).
type MulticastReporter struct {
	mu     sync.Mutex
	files  [2]*os.File // IPv4, IPv6; nil until opened
	ports  [2]uint16
	raw    [2]*os.File // Send's; nil until opened
	closed bool
}

// NewMulticastReporter returns a reporter; it opens its sockets (one per
// family) when first used.
func NewMulticastReporter() *MulticastReporter {
	return &MulticastReporter{}
}

// Report reports the outer packet pkt (an IPv4 or IPv6 header, a UDP
// header and the payload, as the datapath builds it) as sent out of
// interface oif, 0 for the device its route names. Only its addresses and
// UDP payload are read. It does not block.
func (r *MulticastReporter) Report(pkt []byte, oif int) error {
	src, dst, payload, err := splitUDP(pkt)
	if err != nil {
		return err
	}
	if !dst.IsMulticast() {
		return fmt.Errorf("underlay: report %v: not a multicast group", dst)
	}
	return r.sendTo(false, payload, src, dst, oif)
}

// addr16 is a as putPktinfo takes it: IPv4 in the first 4 bytes.
func addr16(a netip.Addr) [16]byte {
	var b [16]byte
	if a.Is6() {
		b = a.As16()
	} else {
		s4 := a.As4()
		copy(b[:], s4[:])
	}
	return b
}

// Send sends the whole outer packet pkt (an IPv4 or IPv6 header on, its
// TTL or hop limit as it is to leave) out of interface oif as it is, to
// the group it is addressed to: the source address and port, TTL and
// UDP checksum are pkt's own. An IPv4 header's identification, when 0,
// and its header checksum are the kernel's to fill in. The packet is not
// looped back to the host, so multicast routing does not see it again. A
// packet longer than the MTU of oif fails with EMSGSIZE. It does not
// block.
func (r *MulticastReporter) Send(pkt []byte, oif int) error {
	src, dst, _, err := splitUDP(pkt)
	if err != nil {
		return err
	}
	// The source goes to the route lookup too: an IPv6 route out of a
	// device with no address of the group's scope has none to choose.
	return r.sendTo(true, pkt, src, dst, oif)
}

// sendTo sends p to dst out of oif, from src, with Send's raw socket of
// dst's family if raw, else Report's UDP socket to its own port; it opens
// the socket on first use. It does not allocate once the socket is open.
func (r *MulticastReporter) sendTo(raw bool, p []byte, src, dst netip.Addr, oif int) error {
	fam, family := 0, 4
	if dst.Is6() {
		fam, family = 1, 6
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("underlay: multicast reporter closed")
	}
	files, open := &r.files, r.open
	if raw {
		files, open = &r.raw, r.openRaw
	}
	if files[fam] == nil {
		if err := open(fam); err != nil {
			return err
		}
	}
	port := r.ports[fam]
	if raw {
		port = 0 // a raw socket's packets carry their own
	}
	var oob [64]byte
	s16 := addr16(src)
	n := putPktinfo(oob[:], family, &s16, oif)
	scope := 0
	if dst.Is6() && (dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast()) {
		scope = oif
	}
	return sys.SendmsgTo(int(files[fam].Fd()), p, oob[:n], dst, port, scope)
}

// openRaw opens Send's socket of family index fam: IPPROTO_RAW, which
// takes whole IP packets (IP_HDRINCL) and receives nothing, with
// multicast loopback off. An IPv6 one may name a source that is not the
// host's (IPV6_FREEBIND), as an IPv4 one with IP_HDRINCL may.
func (r *MulticastReporter) openRaw(fam int) error {
	af, name := sys.AF_INET, "raw4"
	opts := [][3]int{{sys.SOL_IP, sys.IP_MULTICAST_LOOP, 0}}
	if fam == 1 {
		af, name = sys.AF_INET6, "raw6"
		opts = [][3]int{{sys.SOL_IPV6, sys.IPV6_MULTICAST_LOOP, 0}, {sys.SOL_IPV6, sys.IPV6_FREEBIND, 1}}
	}
	f, err := sys.Socket(af, sys.SOCK_RAW, sys.IPPROTO_RAW, "mcsend-"+name, func(fd int) error {
		return setInts(fd, opts)
	})
	if err != nil {
		return fmt.Errorf("underlay: multicast send socket: %w", err)
	}
	r.raw[fam] = f
	return nil
}

// open opens the socket of family index fam (0 IPv4, 1 IPv6): an unbound
// port of its own, multicast loopback on, TTL 0, and no delivery of
// groups it has not joined (it joins none).
func (r *MulticastReporter) open(fam int) error {
	af, name := sys.AF_INET, "udp4"
	if fam == 1 {
		af, name = sys.AF_INET6, "udp6"
	}
	f, err := sys.Socket(af, sys.SOCK_DGRAM, 0, "mcreport-"+name, func(fd int) error {
		var opts [][3]int
		if fam == 0 {
			opts = [][3]int{{sys.SOL_IP, sys.IP_MULTICAST_LOOP, 1}, {sys.SOL_IP, sys.IP_MULTICAST_TTL, 0}, {sys.SOL_IP, sys.IP_MULTICAST_ALL, 0}}
		} else {
			opts = [][3]int{{sys.SOL_IPV6, sys.IPV6_V6ONLY, 1}, {sys.SOL_IPV6, sys.IPV6_MULTICAST_LOOP, 1}, {sys.SOL_IPV6, sys.IPV6_MULTICAST_HOPS, 0}, {sys.SOL_IPV6, sys.IPV6_MULTICAST_ALL, 0}}
		}
		if err := setInts(fd, opts); err != nil {
			return err
		}
		if fam == 0 {
			return sys.Bind4(fd, [4]byte{}, 0)
		}
		return sys.Bind6(fd, [16]byte{}, 0)
	})
	if err != nil {
		return fmt.Errorf("underlay: multicast reporter socket: %w", err)
	}
	// The descriptor is used with raw sendmsg calls only (Fd leaves the
	// poller); the file keeps it open.
	port, err := sys.LocalPort(int(f.Fd()))
	if err != nil {
		f.Close()
		return err
	}
	r.files[fam] = f
	r.ports[fam] = port
	return nil
}

// setInts sets the integer socket options opts, each {level, name,
// value}, on fd.
func setInts(fd int, opts [][3]int) error {
	for _, o := range opts {
		if err := sys.SetInt(fd, o[0], o[1], o[2]); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the sockets.
func (r *MulticastReporter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, fs := range []*[2]*os.File{&r.files, &r.raw} {
		for i, f := range fs {
			if f != nil {
				f.Close()
			}
			fs[i] = nil
		}
	}
	return nil
}

// splitUDP returns the addresses and the UDP payload of an outer packet.
func splitUDP(pkt []byte) (src, dst netip.Addr, payload []byte, err error) {
	if len(pkt) == 0 {
		return src, dst, nil, errors.New("underlay: empty packet")
	}
	var ulp []byte
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0xf) * 4
		if ihl < 20 || len(pkt) < ihl+8 || pkt[9] != 17 {
			return src, dst, nil, errors.New("underlay: not an IPv4 UDP packet")
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		ulp = pkt[ihl:]
	case 6:
		if len(pkt) < 48 || pkt[6] != 17 {
			return src, dst, nil, errors.New("underlay: not an IPv6 UDP packet")
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		ulp = pkt[40:]
	default:
		return src, dst, nil, errors.New("underlay: not an IP packet")
	}
	n := int(binary.BigEndian.Uint16(ulp[4:]))
	if n < 8 || n > len(ulp) {
		n = len(ulp)
	}
	return src, dst, ulp[8:n], nil
}
