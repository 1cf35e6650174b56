package underlay

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// outerUDP builds an outer packet as the datapath does: IP header, UDP
// header (ports 40000 → 4789) and payload, TTL 16.
func outerUDP(src, dst netip.Addr, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 4789)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	if dst.Is4() {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 16, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		return append(ip, udp...)
	}
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, 17, 16
	binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(ip, udp...)
}

// mcSendCases are the sources and groups the reporter's tests send with,
// one per family; the sources are d0's.
var mcSendCases = []struct{ src, group netip.Addr }{
	{netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("239.1.2.3")},
	{netip.MustParseAddr("fd09::1"), netip.MustParseAddr("ff0e::1:2:3")},
}

// TestMulticastReporterAsksTheRoutingDaemon: a reported packet reaches the
// multicast routing daemon as an unresolved packet of its (S, G) that came
// in by the vif of its interface, as the kernel's vxlan with mcroute
// reports it (ipmr_cache_unresolved → IGMPMSG_NOCACHE,
// ip6mr_cache_unresolved → MRT6MSG_NOCACHE), and never leaves the host:
// with TTL (hop limit) 0 ip_mc_output and ip6_finish_output2 drop it after
// looping it back.
func TestMulticastReporterAsksTheRoutingDaemon(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "mcreport")
	ns.Run(t, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ns.Run(t, "ip", "link", "set", "d1", "up")
	ns.Run(t, "ip", "link", "set", "d0", "up")
	ns.Run(t, "ip", "addr", "add", "10.9.0.1/24", "dev", "d0")
	ns.Run(t, "ip", "addr", "add", "fd09::1/64", "dev", "d0", "nodad")
	d0, d1 := linkIndex(t, ns, "d0"), linkIndex(t, ns, "d1")
	mr, err := ns.OpenMroute()
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	if err := mr.AddVif(d0); err != nil {
		t.Fatal(err)
	}
	// Everything that leaves d0 arrives at d1.
	pfd := capturePackets(t, ns, d1)

	r := NewMulticastReporter()
	defer r.Close()
	for _, tc := range mcSendCases {
		src, group := tc.src, tc.group
		pkt := outerUDP(src, group, []byte("vxlan payload"))
		if err := ns.Do(func() error { return r.Report(pkt, d0) }); err != nil {
			t.Fatalf("Report(%v → %v): %v", src, group, err)
		}
		u, err := mr.ReadUpcall(group.Is6(), 2*time.Second)
		if err != nil {
			t.Fatalf("%v → %v: %v", src, group, err)
		}
		want := nstest.Upcall{Type: nstest.UpcallNoCache, Ifindex: d0, Src: src, Group: group}
		if u != want {
			t.Errorf("upcall %+v, want %+v", u, want)
		}
		if got := receivedTo(pfd, group); len(got) != 0 {
			t.Errorf("%d packets to %v left d0", len(got), group)
		}
	}
	// The datapath reports every packet multicast routing forwards: no
	// allocation per packet.
	for _, tc := range mcSendCases {
		pkt := outerUDP(tc.src, tc.group, []byte("vxlan payload"))
		var allocs float64
		var err error
		ns.Do(func() error {
			allocs = testing.AllocsPerRun(100, func() {
				if e := r.Report(pkt, d0); e != nil {
					err = e
				}
			})
			return nil
		})
		if err != nil || allocs != 0 {
			t.Errorf("Report(%v → %v): %v allocations, error %v; want 0, none", tc.src, tc.group, allocs, err)
		}
	}
	if err := r.Report([]byte{0x45, 0}, 0); err == nil {
		t.Error("Report of a truncated packet: no error")
	}
	if err := r.Report(outerUDP(netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2"), nil), 0); err == nil {
		t.Error("Report of a unicast packet: no error")
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capturePackets returns a packet socket in ns that receives the IP
// packets arriving at interface ifindex, each read timing out after
// 300 ms; it is closed when the test ends.
func capturePackets(t *testing.T, ns *nstest.NS, ifindex int) int {
	t.Helper()
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, int(htons(syscall.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifindex})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	tv := syscall.NsecToTimeval((300 * time.Millisecond).Nanoseconds())
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	return fd
}

// receivedTo returns the packets to dst that arrive at the capture fd
// until a read times out.
func receivedTo(fd int, dst netip.Addr) [][]byte {
	var got [][]byte
	b := make([]byte, 4096)
	for {
		n, _, err := syscall.Recvfrom(fd, b, 0)
		if err != nil {
			return got // the timeout: nothing more arrived
		}
		if dstOf(b[:n]) == dst {
			got = append(got, append([]byte(nil), b[:n]...))
		}
	}
}

// dstOf returns the destination of an IP packet, or the zero Addr.
func dstOf(p []byte) netip.Addr {
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(p[16:20]))
	case len(p) >= 40 && p[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(p[24:40]))
	}
	return netip.Addr{}
}

// TestMulticastReporterSendsHeldPacketsAsTheyAre: Send puts a held outer
// packet on the wire out of the interface asked for, byte for byte (its
// source port, TTL and checksums are the datapath's), as ip_mr_forward
// sends a queued packet once its route is in; the packet does not loop
// back into the host's multicast routing (no upcall), nor leave by the
// other vif. A packet over the interface's MTU is refused with EMSGSIZE.
func TestMulticastReporterSendsHeldPacketsAsTheyAre(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "mcsend")
	for _, pair := range [][2]string{{"d0", "d1"}, {"e0", "e1"}} {
		ns.Run(t, "ip", "link", "add", pair[0], "type", "veth", "peer", "name", pair[1])
		ns.Run(t, "ip", "link", "set", pair[1], "up")
		ns.Run(t, "ip", "link", "set", pair[0], "up")
	}
	ns.Run(t, "ip", "addr", "add", "10.9.0.1/24", "dev", "d0")
	ns.Run(t, "ip", "addr", "add", "fd09::1/64", "dev", "d0", "nodad")
	ns.Run(t, "ip", "link", "set", "e0", "mtu", "1400")
	d0, d1, e0, e1 := linkIndex(t, ns, "d0"), linkIndex(t, ns, "d1"), linkIndex(t, ns, "e0"), linkIndex(t, ns, "e1")
	mr, err := ns.OpenMroute()
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	for _, d := range []int{d0, e0} {
		if err := mr.AddVif(d); err != nil {
			t.Fatal(err)
		}
	}
	atD1, atE1 := capturePackets(t, ns, d1), capturePackets(t, ns, e1)
	r := NewMulticastReporter()
	defer r.Close()
	for _, tc := range mcSendCases {
		src, group := tc.src, tc.group
		pkt := outerUDP(src, group, []byte("vxlan payload"))
		if src.Is4() {
			pkt[8] = 15                              // TTL
			binary.BigEndian.PutUint16(pkt[4:], 777) // identification
			binary.BigEndian.PutUint16(pkt[10:], ipv4Checksum(pkt[:20]))
		} else {
			pkt[7] = 15 // hop limit
		}
		binary.BigEndian.PutUint16(pkt[len(pkt)-len("vxlan payload")-2:], 0x1234) // a UDP checksum of the datapath's
		if err := ns.Do(func() error { return r.Send(pkt, e0) }); err != nil {
			t.Fatalf("Send(%v → %v): %v", src, group, err)
		}
		if got := receivedTo(atE1, group); len(got) != 1 || string(got[0]) != string(pkt) {
			t.Errorf("%v: at e1 %x, want one packet %x", group, got, pkt)
		}
		if got := receivedTo(atD1, group); len(got) != 0 {
			t.Errorf("%v: %d packets left d0", group, len(got))
		}
		if u, err := mr.ReadUpcall(group.Is6(), 200*time.Millisecond); err == nil {
			t.Errorf("%v: the packet looped back into multicast routing: upcall %+v", group, u)
		}
		big := outerUDP(src, group, make([]byte, 1400))
		if err := ns.Do(func() error { return r.Send(big, e0) }); !errors.Is(err, syscall.EMSGSIZE) {
			t.Errorf("%v: Send of %d bytes out of an MTU of 1400: %v, want EMSGSIZE", group, len(big), err)
		}
	}
}

// ipv4Checksum is the header checksum of an IPv4 header whose checksum
// field is zero.
func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
