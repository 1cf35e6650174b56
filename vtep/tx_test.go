package vtep_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/flow"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// sendOne sends f on l1 and returns the decoded outer packet, checking that
// exactly one was sent.
func sendOne(t *testing.T, rec *recorder, l1 *netlab.Link, f []byte, m tap.Meta) outerPacket {
	t.Helper()
	l1.SendMeta(f, m)
	recvAll(l1)
	s := rec.take()
	if len(s) != 1 {
		t.Fatalf("%d packets sent, want 1", len(s))
	}
	o := decodeOuter(t, s[0].pkt)
	if !bytes.Equal(o.inner, f) {
		t.Fatalf("inner frame changed:\n got %x\nwant %x", o.inner, f)
	}
	return o
}

// oneLink is a host with a single link "vx0" (plus the recorder) whose
// peer 192.0.2.2 (or 2001:db8::2) is only an address on the network.
func oneLink(t *testing.T, lab *netlab.Lab, args string) *netlab.Link {
	t.Helper()
	h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
	lab.MustAddHost(t, "h2", "192.0.2.2", "2001:db8::2")
	return h.MustAddLink(t, "vx0", args)
}

func udp4(tos, ttl uint8, df bool) []byte {
	return netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB, TOS: tos, TTL: ttl, DF: df}, 1111, 2222, payload(40))
}

func udp6(tc, hop uint8, label uint32) []byte {
	return netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B, TOS: tc, TTL: hop, Label: label}, 1111, 2222, payload(40))
}

// TestECNEncapsulation: the outer ECN field copies the inner one except
// that CE becomes ECT(0) (INET_ECN_encapsulate, RFC 6040 §4.1
// compatibility mode; vxlan_bridge_1d.sh test_ecn_encap: 00→00, 01→01,
// 02→02, 03→02), on top of a fixed or inherited DSCP.
func TestECNEncapsulation(t *testing.T) {
	want := [4]uint8{0, 1, 2, 2}
	for _, tc := range []struct {
		args string
		dscp uint8 // inner DSCP bits
		out  uint8 // expected outer DSCP bits
	}{
		{"", 0xb8, 0},
		{"tos 0x28", 0xb8, 0x28},
		{"tos inherit", 0xb8, 0xb8},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789 "+tc.args)
				for ecn := range uint8(4) {
					for _, f := range [][]byte{udp4(tc.dscp|ecn, 0, false), udp6(tc.dscp|ecn, 0, 0)} {
						o := sendOne(t, rec, l, f, tap.Meta{})
						if o.tos != tc.out|want[ecn] {
							t.Errorf("inner tos %#02x: outer %#02x, want %#02x", tc.dscp|ecn, o.tos, tc.out|want[ecn])
						}
					}
				}
			})
		})
	}
}

// TestTTLAndTOSInherit covers the outer TTL rules of vxlan_xmit_one: auto
// is the route default (64), a number is used as is, inherit copies the
// inner TTL or hop limit (ip_tunnel_get_ttl) and falls back to the route
// default for non-IP frames; and "tos inherit" copies the inner DSCP
// (ip_tunnel_get_dsfield), 0 for non-IP frames.
func TestTTLAndTOSInherit(t *testing.T) {
	arp := netlab.ARPRequest(macA, ipA, ipB)
	for _, tc := range []struct {
		args  string
		frame []byte
		ttl   uint8
		tos   uint8
	}{
		{"", udp4(0, 33, false), 64, 0},
		{"ttl 100", udp4(0, 33, false), 100, 0},
		{"ttl inherit", udp4(0, 33, false), 33, 0},
		{"ttl inherit", udp6(0, 17, 0), 17, 0},
		{"ttl inherit", arp, 64, 0},
		{"tos inherit", udp4(0x48, 0, false), 64, 0x48},
		{"tos inherit", udp6(0x30, 0, 0), 64, 0x30},
		{"tos inherit", arp, 64, 0},
		{"tos 0x10 ttl 5", udp4(0x48, 0, false), 5, 0x10},
	} {
		t.Run(fmt.Sprintf("%s/%x", tc.args, tc.frame[12:14]), func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789 "+tc.args)
				o := sendOne(t, rec, l, tc.frame, tap.Meta{})
				if o.ttl != tc.ttl || o.tos != tc.tos {
					t.Errorf("outer ttl %d tos %#x, want %d %#x", o.ttl, o.tos, tc.ttl, tc.tos)
				}
			})
		})
	}
}

// TestDFPolicy: df unset sends DF=0, set DF=1, and inherit DF=1 for inner
// IPv6 and for inner IPv4 with DF (vxlan_xmit_one).
func TestDFPolicy(t *testing.T) {
	for _, tc := range []struct {
		args  string
		frame []byte
		df    bool
	}{
		{"", udp4(0, 0, true), false},
		{"df set", udp4(0, 0, false), true},
		{"df inherit", udp4(0, 0, true), true},
		{"df inherit", udp4(0, 0, false), false},
		{"df inherit", udp6(0, 0, 0), true},
		{"df inherit", netlab.ARPRequest(macA, ipA, ipB), false},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789 "+tc.args)
				if o := sendOne(t, rec, l, tc.frame, tap.Meta{}); o.df != tc.df {
					t.Errorf("DF = %v, want %v", o.df, tc.df)
				}
			})
		})
	}
}

// TestIPv6FlowLabel: a fixed flowlabel is used as is; the inherit policy
// copies the inner IPv6 label and uses 0 for other frames
// (ip_tunnel_get_flowlabel).
func TestIPv6FlowLabel(t *testing.T) {
	for _, tc := range []struct {
		args  string
		frame []byte
		label uint32
	}{
		{"", udp6(0, 0, 0xabcde), 0},
		{"flowlabel 0x12345", udp6(0, 0, 0xabcde), 0x12345},
		{"flowlabel inherit", udp6(0, 0, 0xabcde), 0xabcde},
		{"flowlabel inherit", udp4(0, 0, false), 0},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, "id 42 remote 2001:db8::2 dstport 4789 "+tc.args)
				if o := sendOne(t, rec, l, tc.frame, tap.Meta{}); o.label != tc.label {
					t.Errorf("flow label %#x, want %#x", o.label, tc.label)
				}
			})
		})
	}
}

// TestOuterUDPChecksumOptions: IPv4 sends a checksum unless noudpcsum
// (VXLAN_F_UDP_ZERO_CSUM_TX), IPv6 unless udp6zerocsumtx; an IPv6 receiver
// accepts a zero checksum only with udp6zerocsumrx.
func TestOuterUDPChecksumOptions(t *testing.T) {
	for _, tc := range []struct {
		v6       bool
		tx, rx   string
		zero     bool
		accepted bool
	}{
		{false, "", "", false, true},
		{false, "noudpcsum", "", true, true},
		{true, "", "", false, true},
		{true, "udp6zerocsumtx", "", true, false},
		{true, "udp6zerocsumtx", "udp6zerocsumrx", true, true},
	} {
		t.Run(fmt.Sprintf("v6=%v/%s/%s", tc.v6, tc.tx, tc.rx), func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
				a, b := "192.0.2.1", "192.0.2.2"
				if tc.v6 {
					a, b = "2001:db8::1", "2001:db8::2"
				}
				h1, h2 := lab.MustAddHost(t, "h1", a), lab.MustAddHost(t, "h2", b)
				l1 := h1.MustAddLink(t, "vx0", "id 42 dstport 4789 remote "+b+" "+tc.tx)
				l2 := h2.MustAddLink(t, "vx0", "id 42 dstport 4789 local "+b+" "+tc.rx)
				f := udp4(0, 0, false)
				o := sendOne(t, rec, l1, f, tap.Meta{})
				if (o.udpCsum == 0) != tc.zero {
					t.Errorf("UDP checksum %#04x, want zero %v", o.udpCsum, tc.zero)
				}
				got := recvAll(l2)
				if (len(got) == 1) != tc.accepted {
					t.Errorf("received %d frames, want accepted %v", len(got), tc.accepted)
				}
				if !tc.accepted && l2.Host.VTEP.Stats().Get("drop_udp_csum") != 1 {
					t.Errorf("zero IPv6 checksum not counted as drop_udp_csum")
				}
			})
		})
	}
}

// TestIPv4IdentificationPerSocket: outer IPv4 IDs come from one counter
// per socket, shared by the links on it.
func TestIPv4IdentificationPerSocket(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		lab.MustAddHost(t, "h2", "192.0.2.2")
		a := h.MustAddLink(t, "vx10", "id 10 remote 192.0.2.2 dstport 4789")
		b := h.MustAddLink(t, "vx20", "id 20 remote 192.0.2.2 dstport 4789")
		var ids []uint16
		for i := range 6 {
			l := a
			if i%2 == 1 {
				l = b
			}
			ids = append(ids, sendOne(t, rec, l, udp4(0, 0, false), tap.Meta{}).id)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] != ids[i-1]+1 {
				t.Fatalf("IPv4 IDs %v are not one sequence", ids)
			}
		}
	})
}

// TestSourcePortFromFlowHash: the outer source port is the inner flow's
// hash mapped into [min, max) as udp_flow_src_port does; a range with
// min >= max means the local port range 32768..60999.
func TestSourcePortFromFlowHash(t *testing.T) {
	for _, tc := range []struct {
		args     string
		min, max uint16
	}{
		{"", 32768, 60999},
		{"srcport 5000 5010", 5000, 5010},
		{"srcport 5000 5000", 32768, 60999},
		{"srcport 49152 65535", 49152, 65535},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rec := &recorder{}
			bubble(t, netlab.Options{Trace: rec.trace, HashSeed: 99}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789 "+tc.args)
				seen := map[uint16]bool{}
				for sport := range uint16(50) {
					f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1000+sport, 53, nil)
					o := sendOne(t, rec, l, f, tap.Meta{})
					want := flow.SourcePort(flow.HashFrame(f, 99), tc.min, tc.max)
					if o.sport != want || o.sport < tc.min || o.sport >= tc.max {
						t.Fatalf("source port %d, want %d in [%d, %d)", o.sport, want, tc.min, tc.max)
					}
					seen[o.sport] = true
				}
				if len(seen) < 5 {
					t.Errorf("50 flows used only %d source ports", len(seen))
				}
			})
		})
	}
}

// TestMulticastGroup: a group link joins its group when up
// (vxlan_igmp_join), floods to it with TTL 1 for "ttl auto", and leaves it
// when down.
func TestMulticastGroup(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		var ls []*netlab.Link
		for i := 1; i <= 3; i++ {
			a := fmt.Sprintf("192.0.2.%d", i)
			h := lab.MustAddHost(t, fmt.Sprintf("h%d", i), a)
			ls = append(ls, h.MustAddLink(t, "vx0", "id 42 group 239.1.1.1 dev eth0 dstport 4789 local "+a))
		}
		f := netlab.ARPRequest(macA, ipA, ipB)
		o := sendOne(t, rec, ls[0], f, tap.Meta{})
		if o.dst != ip("239.1.1.1") || o.ttl != 1 {
			t.Errorf("outer dst %v ttl %d, want 239.1.1.1 ttl 1", o.dst, o.ttl)
		}
		expectFrames(t, ls[1], f)
		expectFrames(t, ls[2], f)
		ls[2].SetUp(false)
		sendOne(t, rec, ls[0], f, tap.Meta{})
		expectFrames(t, ls[1], f)
		expectFrames(t, ls[2])
	})
}

// TestPartialChecksumCompletedWithoutRemcsumTX: a frame whose checksum is
// partial is completed before encapsulation when remote checksum offload
// is off (skb_checksum_help), so the far end gets a valid frame.
func TestPartialChecksumCompletedWithoutRemcsumTX(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")
		full := netlab.TCP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, 3, payload(500))
		partial := bytes.Clone(full)
		l1.SendMeta(partial, netlab.PartialChecksum(partial))
		got := expectFrames(t, l2, full)
		if got[0].Meta.ChecksumPartial {
			t.Errorf("received frame still marked partial")
		}
	})
}

// TestExternalModeTunnelMetadata: an external (collect metadata) link
// encapsulates by the frame's tunnel metadata (dst, port, VNI, TTL, TOS,
// DF, checksum), reports the outer headers as metadata on receive, looks
// up its FDB by the tunnel VNI when asked to bridge, and drops frames
// without metadata (TUNNEL_TXINFO).
func TestExternalModeTunnelMetadata(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1, h2 := lab.MustAddHost(t, "h1", "192.0.2.1"), lab.MustAddHost(t, "h2", "192.0.2.2")
		l1 := h1.MustAddLink(t, "vx0", "external dstport 4789")
		l2 := h2.MustAddLink(t, "vx0", "external dstport 4789")
		f := udp4(0x02, 0, false)
		ti := tap.TunnelInfo{Valid: true, VNI: 5000, Remote: vtep2, TTL: 9, TOS: 0x20, DontFragment: true, NoChecksum: true}
		o := sendOne(t, rec, l1, f, tap.Meta{Tunnel: ti})
		if o.dst != vtep2 || o.vni() != 5000 || o.ttl != 9 || o.tos != 0x22 || !o.df || o.udpCsum != 0 || o.dport != 4789 {
			t.Errorf("outer %+v", o)
		}
		got := expectFrames(t, l2, f)[0].Meta.Tunnel
		want := tap.TunnelInfo{Valid: true, VNI: 5000, Remote: vtep1, Local: vtep2, RemotePort: o.sport, TOS: 0x22, TTL: 9, DontFragment: true, NoChecksum: true}
		if got != want {
			t.Errorf("received tunnel info\n got %+v\nwant %+v", got, want)
		}

		l1.Send(f)
		recvAll(l1)
		if counter(l1, "drop_tx_info_missing") != 1 || len(rec.take()) != 0 {
			t.Errorf("frame without metadata was not dropped as tx_info_missing")
		}

		// Bridge mode: the FDB, keyed by source VNI.
		if err := l1.FDB().Add(fdbReq(macB, vtep2, 7000)); err != nil {
			t.Fatal(err)
		}
		o = sendOne(t, rec, l1, f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, Bridge: true, VNI: 7000}})
		if o.dst != vtep2 || o.vni() != 7000 {
			t.Errorf("bridged to %v vni %d", o.dst, o.vni())
		}
		l1.SendMeta(f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, Bridge: true, VNI: 7001}})
		recvAll(l1)
		if counter(l1, "drop_no_tx_target") != 1 {
			t.Errorf("no entry under VNI 7001: drop_no_tx_target = %d", counter(l1, "drop_no_tx_target"))
		}
	})
}

// TestGPERawPackets: a GPE link carries bare network packets with the next
// protocol from the frame's protocol (vxlan_build_gpe_hdr) and hands them
// on with that protocol; a protocol GPE cannot name is dropped
// (-EPFNOSUPPORT).
func TestGPERawPackets(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1, h2 := lab.MustAddHost(t, "h1", "192.0.2.1"), lab.MustAddHost(t, "h2", "192.0.2.2")
		l1 := h1.MustAddLink(t, "vx0", "external gpe")
		l2 := h2.MustAddLink(t, "vx0", "external gpe")
		pkt := udp6(0, 0, 0)[14:]
		m := tap.Meta{Protocol: header.EtherTypeIPv6, Tunnel: tap.TunnelInfo{Valid: true, VNI: 3, Remote: vtep2}}
		o := sendOne(t, rec, l1, pkt, m)
		if w0 := binary.BigEndian.Uint32(o.vx[:]); w0 != flagI|0x04000000|0x02 || o.dport != config.DefaultGPEPort {
			t.Errorf("GPE header %#08x port %d", w0, o.dport)
		}
		got := expectFrames(t, l2, pkt)
		if got[0].Meta.Protocol != header.EtherTypeIPv6 {
			t.Errorf("received protocol %#04x", got[0].Meta.Protocol)
		}
		m.Protocol = 0x1234
		l1.SendMeta(pkt, m)
		recvAll(l1)
		if counter(l1, "drop_gpe_protocol") != 1 || counter(l1, "tx_errors") != 1 {
			t.Errorf("unknown protocol: drop_gpe_protocol %d tx_errors %d", counter(l1, "drop_gpe_protocol"), counter(l1, "tx_errors"))
		}
	})
}

// failingConn is an underlay.Conn whose writes are refused.
type failingConn struct{ underlay.Conn }

func (failingConn) Write(b [][]byte, off int) (int, error) { return 0, errors.New("refused") }

// TestTransmitDropReasons triggers each transmit drop reason and checks
// its counter and the device counter the kernel bumps with it.
func TestTransmitDropReasons(t *testing.T) {
	big := make([]byte, 65530)
	copy(big, udp4(0, 0, false))
	for _, tc := range []struct {
		name  string
		args  string
		setup func(t *testing.T, l *netlab.Link)
		frame []byte
		meta  tap.Meta
		want  []string
	}{
		{name: "no FDB entry and no default (NO_TX_TARGET)", args: "id 42",
			frame: udp4(0, 0, false), want: []string{"drop_no_tx_target", "tx_dropped"}},
		{name: "inner IPv4 header truncated", args: "id 42 remote 192.0.2.2",
			frame: udp4(0, 0, false)[:30], want: []string{"drop_tx_hdr_truncated", "tx_dropped"}},
		{name: "frame shorter than Ethernet", args: "id 42 remote 192.0.2.2",
			frame: []byte{1, 2, 3}, want: []string{"drop_tx_hdr_truncated", "tx_dropped"}},
		{name: "bridge-local remote", args: "id 42",
			setup: func(t *testing.T, l *netlab.Link) { addFDB(t, l, macB, ip("0.0.0.0"), 0, 0, 0) },
			frame: udp4(0, 0, false), want: []string{"drop_remote_any", "tx_dropped"}},
		{name: "local remote without a link for the VNI", args: "id 42",
			setup: func(t *testing.T, l *netlab.Link) { addFDB(t, l, macB, vtep1, 0, 99, 0) },
			frame: udp4(0, 0, false), want: []string{"drop_bypass_no_link", "tx_errors"}},
		{name: "external without a remote", args: "external",
			frame: udp4(0, 0, false), meta: tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, VNI: 1}},
			want: []string{"drop_no_route", "tx_carrier_errors", "tx_errors"}},
		{name: "external with a remote of the wrong family", args: "external local 192.0.2.1",
			frame: udp4(0, 0, false), meta: tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, VNI: 1, Remote: vtep6b}},
			want: []string{"drop_no_route", "tx_carrier_errors", "tx_errors"}},
		{name: "frame too big for an outer packet", args: "id 42 remote 192.0.2.2",
			frame: big, want: []string{"drop_tx_too_big", "tx_dropped"}},
		{name: "link down", args: "id 42 remote 192.0.2.2",
			setup: func(t *testing.T, l *netlab.Link) { l.SetUp(false) },
			frame: udp4(0, 0, false), want: []string{"drop_tx_dev_down"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
				l := oneLink(t, lab, tc.args+" dstport 4789")
				if tc.setup != nil {
					tc.setup(t, l)
				}
				l.SendMeta(tc.frame, tc.meta)
				recvAll(l)
				checkCounters(t, "link", l.Stats().Map(), tc.want)
				if s := lab.Net.Stats(); s.Sent != 0 {
					t.Errorf("%d packets reached the underlay", s.Sent)
				}
			})
		})
	}
	t.Run("underlay refuses the packet", func(t *testing.T) {
		opts := netlab.Options{Host: func(name string, o *vtep.HostOptions) {
			inner := o.Opener
			o.Opener = vtep.OpenerFunc(func(k vtep.SocketKey) (underlay.Conn, error) {
				c, err := inner.Open(k)
				return failingConn{c}, err
			})
		}}
		bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
			l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789")
			l.Send(udp4(0, 0, false))
			recvAll(l)
			checkCounters(t, "link", l.Stats().Map(), []string{"drop_underlay_write", "tx_dropped"})
		})
	})
}

func fdbReq(m header.MAC, dst netip.Addr, srcVNI header.VNI) fdbRequest {
	return fdbRequest{MAC: m, State: fdbPermanent, Flags: fdbSelf, Dst: dst, SrcVNI: srcVNI, HasSrcVNI: true, VNI: srcVNI, HasVNI: true}
}

// TestVNIFilter: a vnifilter link receives only the VNIs on its list
// (vxlan_vs_find_vni), a per-VNI remote creates that VNI's all-zeros
// entry, counters are kept per VNI (`bridge -s vni show`), and a VNI
// already received on the socket cannot be added to another link.
func TestVNIFilter(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1, h2 := lab.MustAddHost(t, "h1", "192.0.2.1"), lab.MustAddHost(t, "h2", "192.0.2.2")
		l1 := h1.MustAddLink(t, "vx0", "external vnifilter")
		l2 := h2.MustAddLink(t, "vx0", "external vnifilter")
		if err := l1.AddVNI(100, vtep2); err != nil {
			t.Fatal(err)
		}
		if err := l2.AddVNI(100, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		f := udp4(0, 0, false)
		o := sendOne(t, rec, l1, f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, Bridge: true, VNI: 100}})
		if o.dst != vtep2 || o.vni() != 100 {
			t.Errorf("sent to %v vni %d", o.dst, o.vni())
		}
		if got := expectFrames(t, l2, f); got[0].Meta.Tunnel.VNI != 100 {
			t.Errorf("received VNI %d", got[0].Meta.Tunnel.VNI)
		}
		// VNI 101 is not on h2's list.
		l1.AddVNI(101, vtep2)
		l1.SendMeta(f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, Bridge: true, VNI: 101}})
		expectFrames(t, l2)
		if h2.VTEP.Stats().Get("drop_vni_not_found") != 1 {
			t.Errorf("VNI 101 not dropped as vni_not_found")
		}
		var got100 vtep.VNISnapshot
		for _, v := range l1.VNIStats() {
			if v.VNI == 100 {
				got100 = v
			}
		}
		if got100.TXPackets != 1 || got100.TXBytes != uint64(len(f)) {
			t.Errorf("per-VNI counters for 100: %+v", got100)
		}
		l3 := h2.MustAddLink(t, "vx1", "external vnifilter dstport 4789")
		if err := l3.AddVNI(100, netip.Addr{}); !errors.Is(err, vtep.ErrExist) {
			t.Errorf("adding VNI 100 to a second link: %v", err)
		}
		if err := l2.DelVNI(100); err != nil {
			t.Fatal(err)
		}
		if err := l3.AddVNI(100, netip.Addr{}); err != nil {
			t.Errorf("VNI 100 after deleting it elsewhere: %v", err)
		}
	})
}

// TestVNIAddAgainReplacesItsRemote: adding a VNI that is already in the
// filter with another group or remote replaces the VNI's default
// destination (vxlan_vni_update_group): its all-zeros entry then has only
// the new remote, and adding it with none removes the entry. Adding it
// again unchanged changes nothing.
func TestVNIAddAgainReplacesItsRemote(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		l := h1.MustAddLink(t, "vx0", "external vnifilter")
		remotes := func() []netip.Addr {
			e, _ := l.FDB().Get(header.ZeroMAC, 100)
			if e == nil {
				return nil
			}
			var ips []netip.Addr
			for _, r := range e.Remotes() {
				ips = append(ips, r.IP)
			}
			return ips
		}
		for _, step := range []struct {
			remote netip.Addr
			want   []netip.Addr
		}{
			{vtep2, []netip.Addr{vtep2}},
			{vtep2, []netip.Addr{vtep2}},
			{vtep3, []netip.Addr{vtep3}},
			{netip.Addr{}, nil},
			{vtep2, []netip.Addr{vtep2}},
		} {
			if err := l.AddVNI(100, step.remote); err != nil {
				t.Fatalf("AddVNI(100, %v): %v", step.remote, err)
			}
			if got := remotes(); !slices.Equal(got, step.want) {
				t.Errorf("after AddVNI(100, %v): all-zeros remotes %v, want %v", step.remote, got, step.want)
			}
			if d, ok := l.VNIDest(100); !ok || d != step.remote {
				t.Errorf("after AddVNI(100, %v): VNIDest = %v, %v", step.remote, d, ok)
			}
		}
		if err := l.DelVNI(100); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.VNIDest(100); ok || remotes() != nil {
			t.Errorf("VNI 100 still there after DelVNI")
		}
	})
}
