package vtep_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// bigUDP returns a UDP frame from A to B whose network packet is nlen
// bytes long.
func bigUDP(h netlab.IP, nlen int) []byte {
	l3 := 20
	if h.Src.Is6() {
		l3 = 40
	}
	return netlab.UDP(h, 1111, 2222, payload(nlen-l3-8))
}

// pmtuLab runs f with one link "vx0" on h1 towards h2 over an underlay of
// the given MTU and family.
func pmtuLab(t *testing.T, mtu int, v6 bool, f func(t *testing.T, l *netlab.Link, rec *recorder)) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace, Network: underlay.NetworkOptions{MTU: mtu}}, func(t *testing.T, lab *netlab.Lab) {
		args := "id 42 remote 192.0.2.2 local 192.0.2.1 dstport 4789"
		if v6 {
			args = "id 42 remote 2001:db8::2 local 2001:db8::1 dstport 4789"
		}
		f(t, oneLink(t, lab, args), rec)
	})
}

// checkFragNeeded decodes the ICMP error e (an Ethernet frame) that
// answers frame, independently of the datapath, as
// iptunnel_pmtud_build_icmp builds it.
func checkFragNeeded(t *testing.T, e, frame []byte, mtu int) {
	t.Helper()
	nh := frame[14:]
	quote := nh[:min(len(nh), 548)]
	if len(e) != 14+20+8+len(quote) {
		t.Fatalf("error frame of %d bytes, want %d", len(e), 14+20+8+len(quote))
	}
	if !bytes.Equal(e[0:6], frame[6:12]) || !bytes.Equal(e[6:12], frame[0:6]) || !bytes.Equal(e[12:14], frame[12:14]) {
		t.Errorf("Ethernet header %x, want the frame's %x with the addresses swapped", e[:14], frame[:14])
	}
	ip := e[14:34]
	if ip[0] != 0x45 || ip[1] != 0 || int(binary.BigEndian.Uint16(ip[2:])) != 20+8+len(quote) ||
		binary.BigEndian.Uint32(ip[4:]) != 0x4000 || ip[8] != nh[8] || ip[9] != 1 {
		t.Errorf("IPv4 header %x: want version 4, TOS 0, ID 0, DF, TTL %d, ICMP", ip, nh[8])
	}
	if !bytes.Equal(ip[12:16], nh[16:20]) || !bytes.Equal(ip[16:20], nh[12:16]) {
		t.Errorf("addresses %v → %v, want the packet's swapped", ip[12:16], ip[16:20])
	}
	if naiveSum(ip) != 0xffff {
		t.Errorf("IPv4 header checksum wrong")
	}
	icmp := e[34:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[4:]) != 0 || int(binary.BigEndian.Uint16(icmp[6:])) != mtu {
		t.Errorf("ICMP header %x, want type 3 code 4 MTU %d", icmp[:8], mtu)
	}
	if naiveSum(icmp) != 0xffff {
		t.Errorf("ICMP checksum wrong")
	}
	if !bytes.Equal(icmp[8:], quote) {
		t.Errorf("the error does not quote the first %d bytes of the packet", len(quote))
	}
}

// TestPMTUErrorOnBridgePortReplacesTheFrame: on a bridge port, an IPv4
// frame with DF whose packet exceeds the path MTU less 50 bytes (IPv4
// outer headers and the inner Ethernet header, vxlan_headroom) is not
// sent; an ICMP Fragmentation Needed quoting its first 548 bytes, from its
// destination to its source with the MACs swapped and the TTL kept, comes
// back out of the link instead (skb_tunnel_check_pmtu with reply,
// iptunnel_pmtud_build_icmp, vxlan_encap_bypass without snooping). A
// packet of exactly the limit is sent.
func TestPMTUErrorOnBridgePortReplacesTheFrame(t *testing.T) {
	pmtuLab(t, 1500, false, func(t *testing.T, l *netlab.Link, rec *recorder) {
		l.SetBridgePort(true)
		h := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true, TTL: 33}
		fit := bigUDP(h, 1450)
		sendOne(t, rec, l, fit, tap.Meta{})
		big := bigUDP(h, 1451)
		l.Send(big)
		got := recvAll(l)
		if len(got) != 1 {
			t.Fatalf("%d frames back from the link, want 1 error", len(got))
		}
		checkFragNeeded(t, got[0].Data, big, 1450)
		if n := len(rec.take()); n != 0 {
			t.Errorf("%d packets sent, want 0: the error replaces the frame on a bridge port", n)
		}
		if learnedAt(l, macB).IsValid() {
			t.Errorf("the link learned from its own error")
		}
		if counter(l, "tx_pmtu_exceeded") != 1 || counter(l, "tx_pmtu_errors") != 1 || counter(l, "rx_packets") != 1 {
			t.Errorf("counters %v", l.Stats().Map())
		}
	})
}

// TestPMTUErrorOnRoutedLinkAndFrameSent: on a link that is not a bridge
// port the kernel lowers the PMTU of the frame's route and still sends
// the frame (skb_tunnel_check_pmtu without reply); vtep, with no route of
// its own to lower, reports the PMTU to the host's stack with the same
// error and sends the frame too.
func TestPMTUErrorOnRoutedLinkAndFrameSent(t *testing.T) {
	pmtuLab(t, 1400, false, func(t *testing.T, l *netlab.Link, rec *recorder) {
		h := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true}
		big := netlab.TCP(h, 1, 2, 100, payload(1400))
		l.Send(big)
		got := recvAll(l)
		if len(got) != 1 {
			t.Fatalf("%d frames back from the link, want 1 error", len(got))
		}
		checkFragNeeded(t, got[0].Data, big, 1350)
		s := rec.take()
		if len(s) != 1 {
			t.Fatalf("%d packets sent, want the frame", len(s))
		}
		if o := decodeOuter(t, s[0].pkt); !bytes.Equal(o.inner, big) {
			t.Errorf("the frame sent changed")
		}
	})
}

// TestPMTUNoError covers the cases where the kernel builds no error
// (iptunnel_pmtud_check_icmp, iptunnel_pmtud_check_icmpv6): the frame is
// counted as too big and sent, even on a bridge port.
func TestPMTUNoError(t *testing.T) {
	v4 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true}
	v6 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B}
	with := func(h netlab.IP, f func(*netlab.IP)) netlab.IP { f(&h); return h }
	icmpErr := func(h netlab.IP, typ byte) []byte {
		f := netlab.Echo(h, false, 1, 1, payload(1460))
		off := 14 + 20
		if h.Src.Is6() {
			off = 14 + 40
		}
		f[off] = typ
		return f
	}
	moreFragments := bigUDP(v4, 1460)
	moreFragments[14+6] |= 0x20
	for _, tc := range []struct {
		name  string
		mtu   int
		v6    bool
		frame []byte
	}{
		{"no DF (RFC 1191)", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.DF = false }), 1460)},
		{"DF with MF", 1500, false, moreFragments},
		{"MTU below 576", 620, false, bigUDP(v4, 600)},
		{"source multicast", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Src = ip("224.0.0.5") }), 1460)},
		{"source loopback", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Src = ip("127.0.0.1") }), 1460)},
		{"source 0.0.0.0/8", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Src = ip("0.1.2.3") }), 1460)},
		{"source broadcast", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Src = ip("255.255.255.255") }), 1460)},
		{"destination broadcast", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Dst = ip("255.255.255.255") }), 1460)},
		{"destination multicast", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.Dst = ip("239.1.1.1") }), 1460)},
		{"an ICMP error", 1500, false, icmpErr(v4, 3)},
		{"VLAN tagged", 1500, false, bigUDP(with(v4, func(h *netlab.IP) { h.VLAN = 5 }), 1460)},
		{"IPv6, MTU below 1280", 1340, true, bigUDP(v6, 1300)},
		{"IPv6, source ::", 1500, true, bigUDP(with(v6, func(h *netlab.IP) { h.Src = ip("::") }), 1460)},
		{"IPv6, source multicast", 1500, true, bigUDP(with(v6, func(h *netlab.IP) { h.Src = ip("ff02::1") }), 1460)},
		{"IPv6, source ::1", 1500, true, bigUDP(with(v6, func(h *netlab.IP) { h.Src = ip("::1") }), 1460)},
		{"an ICMPv6 error", 1500, true, icmpErr(v6, 1)},
		{"an ICMPv6 redirect", 1500, true, icmpErr(v6, 137)},
	} {
		for _, bridge := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bridge=%v", tc.name, bridge), func(t *testing.T) {
				pmtuLab(t, tc.mtu, tc.v6, func(t *testing.T, l *netlab.Link, rec *recorder) {
					l.SetBridgePort(bridge)
					l.Send(tc.frame)
					if got := recvAll(l); len(got) != 0 {
						t.Errorf("%d frames back from the link, want none", len(got))
					}
					if n := len(rec.take()); n != 1 {
						t.Errorf("%d packets sent, want the frame", n)
					}
					if counter(l, "tx_pmtu_exceeded") != 1 || counter(l, "tx_pmtu_errors") != 0 {
						t.Errorf("counters %v", l.Stats().Map())
					}
				})
			})
		}
	}
}

// TestPMTUPacketTooBig: over an IPv6 underlay the headroom is 70 bytes;
// an IPv6 packet over the limit gets an ICMPv6 Packet Too Big quoting its
// first 1232 bytes, hop limit kept (iptunnel_pmtud_build_icmpv6), and an
// IPv4 packet with DF a Fragmentation Needed with the same MTU.
func TestPMTUPacketTooBig(t *testing.T) {
	pmtuLab(t, 1500, true, func(t *testing.T, l *netlab.Link, rec *recorder) {
		l.SetBridgePort(true)
		h := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B, TTL: 9, TOS: 0x20, Label: 7}
		sendOne(t, rec, l, bigUDP(h, 1430), tap.Meta{})
		big := bigUDP(h, 1431)
		l.Send(big)
		got := recvAll(l)
		if len(got) != 1 {
			t.Fatalf("%d frames back from the link, want 1 error", len(got))
		}
		e, nh := got[0].Data, big[14:]
		quote := nh[:1232]
		if len(e) != 14+40+8+1232 || !bytes.Equal(e[0:6], macA[:]) || !bytes.Equal(e[6:12], macB[:]) {
			t.Fatalf("error frame %x… of %d bytes", e[:14], len(e))
		}
		ip6 := e[14:54]
		if binary.BigEndian.Uint32(ip6[0:]) != 6<<28 || int(binary.BigEndian.Uint16(ip6[4:])) != 8+1232 || ip6[6] != 58 || ip6[7] != 9 ||
			!bytes.Equal(ip6[8:24], nh[24:40]) || !bytes.Equal(ip6[24:40], nh[8:24]) {
			t.Errorf("IPv6 header %x", ip6)
		}
		icmp := e[54:]
		if icmp[0] != 2 || icmp[1] != 0 || binary.BigEndian.Uint32(icmp[4:]) != 1430 || !bytes.Equal(icmp[8:], quote) {
			t.Errorf("ICMPv6 header %x", icmp[:8])
		}
		var ps [40]byte
		copy(ps[0:32], ip6[8:40])
		binary.BigEndian.PutUint32(ps[32:], uint32(len(icmp)))
		ps[39] = 58
		if naiveSum(append(ps[:], icmp...)) != 0xffff {
			t.Errorf("ICMPv6 checksum wrong")
		}
		if n := len(rec.take()); n != 0 {
			t.Errorf("%d packets sent, want 0", n)
		}

		big4 := bigUDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true}, 1431)
		l.Send(big4)
		got = recvAll(l)
		if len(got) != 1 {
			t.Fatalf("IPv4 over IPv6: %d frames back, want 1 error", len(got))
		}
		checkFragNeeded(t, got[0].Data, big4, 1430)
	})
}

// TestPMTUUnknownPathSendsEverything: without a path MTU (an underlay that
// does not report one) nothing is checked.
func TestPMTUUnknownPathSendsEverything(t *testing.T) {
	pmtuLab(t, 0, false, func(t *testing.T, l *netlab.Link, rec *recorder) {
		l.SetBridgePort(true)
		big := bigUDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true}, 9000)
		sendOne(t, rec, l, big, tap.Meta{})
		if counter(l, "tx_pmtu_exceeded") != 0 {
			t.Errorf("tx_pmtu_exceeded %d", counter(l, "tx_pmtu_exceeded"))
		}
	})
}

// TestPMTUOfTheRemotesInterface: the route whose MTU limits a frame is the
// one out of the remote's interface (vxlan6_get_route with flowi6_oif =
// rdst->remote_ifindex, here the link's dev), so two link-local links of
// one host on devices of different MTUs get different limits: 1400 less 70
// bytes of IPv6 outer headers and inner Ethernet on ula, 9000 on ulb.
func TestPMTUOfTheRemotesInterface(t *testing.T) {
	opts := netlab.Options{Host: linkLocalIfindexes, Network: underlay.NetworkOptions{InterfaceMTU: map[int]int{7: 1400, 8: 9000}}}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		vxa, vxb, lb, lc := linkLocalLab(t, lab)
		h := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, DF: true, TTL: 9}
		fit, big := bigUDP(h, 1330), bigUDP(h, 1331)
		for _, l := range []*netlab.Link{vxa, vxb} {
			l.SetBridgePort(true)
			l.Send(fit)
			l.Send(big)
		}
		expectFrames(t, lb, fit)
		expectFrames(t, lc, fit, big)
		got := recvAll(vxa)
		if len(got) != 1 {
			t.Fatalf("%d frames back from vxa, want 1 error", len(got))
		}
		checkFragNeeded(t, got[0].Data, big, 1330)
		if n := len(recvAll(vxb)); n != 0 {
			t.Errorf("%d frames back from vxb, want none: its path MTU is 9000", n)
		}
	})
}
