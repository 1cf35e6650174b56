package underlay

import (
	"encoding/binary"
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
	var pfd int
	if err := ns.Do(func() (err error) {
		pfd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, int(htons(syscall.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return syscall.Bind(pfd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: d1})
	}); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pfd)
	tv := syscall.NsecToTimeval((300 * time.Millisecond).Nanoseconds())
	syscall.SetsockoptTimeval(pfd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)

	r := NewMulticastReporter()
	defer r.Close()
	for _, tc := range []struct{ src, group string }{
		{"10.9.0.1", "239.1.2.3"},
		{"fd09::1", "ff0e::1:2:3"},
	} {
		src, group := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.group)
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
		b := make([]byte, 2048)
		for {
			n, _, err := syscall.Recvfrom(pfd, b, 0)
			if err != nil {
				break // the timeout: nothing more arrived
			}
			if dstOf(b[:n]) == group {
				t.Errorf("a packet to %v left d0", group)
			}
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
