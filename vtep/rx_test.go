package vtep_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
)

// rxCase is one crafted packet sent to a fresh link and the counters it
// must bump.
type rxCase struct {
	name    string
	args    string // the link's `type vxlan` words
	down    bool   // leave the link down
	other   string // another link up on the same socket ("" for none)
	c       crafted
	inner   []byte
	mangle  func(pkt []byte) []byte // edit the built packet
	deliver bool                    // the frame must come out of the link
	link    []string                // link counters that must be 1
	host    []string                // host counters that must be 1
}

var (
	// plainFrame is a valid inner frame from macA.
	plainFrame = netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, payload(30))
	vx42       = vxHeader(flagI, 42, 0)
)

func withSrcMAC(f []byte, m header.MAC) []byte {
	f = bytes.Clone(f)
	copy(f[6:12], m[:])
	return f
}

func withTOS(f []byte, tos uint8) []byte {
	h := netlab.IP{SrcMAC: header.MAC(f[6:12]), DstMAC: header.MAC(f[0:6]), Src: ipA, Dst: ipB, TOS: tos}
	return netlab.UDP(h, 1, 2, payload(30))
}

// TestReceiveDropReasons sends one crafted packet per kernel drop reason
// of vxlan_rcv (and of the UDP layer in front of it) and checks that it is
// dropped and counted under the right name, and that the device counters
// the kernel bumps for that reason move too.
func TestReceiveDropReasons(t *testing.T) {
	cases := []rxCase{
		{name: "valid packet is delivered", args: "id 42", c: crafted{vx: vx42}, inner: plainFrame, deliver: true,
			link: []string{"rx_packets", "fdb_learned"}},
		{name: "VXLAN header truncated", args: "id 42", c: crafted{vx: vx42}, inner: nil,
			mangle: func(p []byte) []byte { return shorten(p, 4) }, host: []string{"drop_too_short"}},
		{name: "I flag clear (VXLAN_INVALID_HDR)", args: "id 42", c: crafted{vx: vxHeader(0, 42, 0)}, inner: plainFrame,
			host: []string{"drop_invalid_hdr"}},
		{name: "unknown VNI (VXLAN_VNI_NOT_FOUND)", args: "id 42", c: crafted{vx: vxHeader(flagI, 43, 0)}, inner: plainFrame,
			host: []string{"drop_vni_not_found"}},
		{name: "reserved flag bit", args: "id 42", c: crafted{vx: vxHeader(flagI|0x01000000, 42, 0)}, inner: plainFrame,
			link: []string{"drop_invalid_hdr", "rx_frame_errors", "rx_errors"}},
		{name: "reserved low VNI byte", args: "id 42", c: crafted{vx: vxHeader(flagI, 42, 0x80)}, inner: plainFrame,
			link: []string{"drop_invalid_hdr", "rx_frame_errors", "rx_errors"}},
		{name: "GBP bit without gbp", args: "id 42", c: crafted{vx: vxHeader(flagI|0x80000000, 42, 0)}, inner: plainFrame,
			link: []string{"drop_invalid_hdr", "rx_frame_errors", "rx_errors"}},
		{name: "reserved_bits lets a bit through", args: "id 42 reserved_bits 0xf7ffffff000000fe", c: crafted{vx: vxHeader(flagI, 42, 1)},
			inner: plainFrame, deliver: true, link: []string{"rx_packets"}},
		{name: "bad UDP checksum", args: "id 42", c: crafted{vx: vx42, badCsum: true}, inner: plainFrame,
			host: []string{"drop_udp_csum"}},
		{name: "IPv4 zero UDP checksum accepted", args: "id 42", c: crafted{vx: vx42, noCsum: true}, inner: plainFrame,
			deliver: true, link: []string{"rx_packets"}},
		{name: "IPv6 zero UDP checksum refused", args: "id 42 local 2001:db8::1",
			c: crafted{dst: vtep6a, vx: vx42, noCsum: true}, inner: plainFrame, host: []string{"drop_udp_csum"}},
		{name: "IPv6 zero UDP checksum with udp6zerocsumrx", args: "id 42 local 2001:db8::1 udp6zerocsumrx",
			c: crafted{dst: vtep6a, vx: vx42, noCsum: true}, inner: plainFrame, deliver: true, link: []string{"rx_packets"}},
		{name: "outer IPv4 length beyond the packet", args: "id 42", c: crafted{vx: vx42}, inner: plainFrame,
			mangle: func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], uint16(len(p)+10)); return p },
			host:   []string{"drop_outer_invalid"}},
		{name: "inner frame shorter than Ethernet", args: "id 42", c: crafted{vx: vx42}, inner: plainFrame[:10],
			link: []string{"drop_too_short"}},
		{name: "inner source is the link MAC (LOCAL_MAC)", args: "id 42 address 02:00:00:00:00:99", c: crafted{vx: vx42},
			inner: withSrcMAC(plainFrame, mac("02:00:00:00:00:99")), link: []string{"drop_local_mac"}},
		{name: "multicast inner source (MAC_INVALID_SOURCE)", args: "id 42", c: crafted{vx: vx42},
			inner: withSrcMAC(plainFrame, mac("01:00:5e:00:00:01")), link: []string{"drop_mac_invalid_source"}},
		{name: "zero inner source (MAC_INVALID_SOURCE)", args: "id 42", c: crafted{vx: vx42},
			inner: withSrcMAC(plainFrame, header.ZeroMAC), link: []string{"drop_mac_invalid_source"}},
		{name: "multicast inner source without learning", args: "id 42 nolearning", c: crafted{vx: vx42},
			inner: withSrcMAC(plainFrame, mac("01:00:5e:00:00:01")), deliver: true, link: []string{"rx_packets"}},
		{name: "inner IPv4 header truncated", args: "id 42", c: crafted{vx: vx42}, inner: plainFrame[:14+19],
			link: []string{"drop_inner_truncated", "rx_length_errors", "rx_errors"}},
		{name: "CE over Not-ECT (IP_TUNNEL_ECN)", args: "id 42", c: crafted{vx: vx42, tos: 0x03}, inner: plainFrame,
			link: []string{"drop_ecn", "rx_frame_errors", "rx_errors"}},
		{name: "link down: not in the VNI table (vxlan_stop)", args: "id 42", down: true, c: crafted{vx: vx42}, inner: plainFrame, other: "id 43",
			host: []string{"drop_vni_not_found"}},
		{name: "GPE without P bit", args: "external gpe dstport 4789", c: crafted{vx: vxHeader(flagI|0x01, 0, 0)},
			inner: plainFrame[14:], link: []string{"drop_gpe_invalid"}},
		{name: "GPE version 1", args: "external gpe dstport 4789", c: crafted{vx: vxHeader(flagI|0x04000000|0x10000000|0x01, 0, 0)},
			inner: plainFrame[14:], link: []string{"drop_gpe_invalid"}},
		{name: "GPE OAM", args: "external gpe dstport 4789", c: crafted{vx: vxHeader(flagI|0x04000000|0x01000000|0x01, 0, 0)},
			inner: plainFrame[14:], link: []string{"drop_gpe_invalid"}},
		{name: "GPE unknown next protocol", args: "external gpe dstport 4789", c: crafted{vx: vxHeader(flagI|0x04000000|0x09, 0, 0)},
			inner: plainFrame[14:], link: []string{"drop_gpe_invalid"}},
		{name: "GPE IPv4 packet", args: "external gpe dstport 4789", c: crafted{vx: vxHeader(flagI|0x04000000|0x01, 0, 0)},
			inner: plainFrame[14:], deliver: true, link: []string{"rx_packets"}},
		{name: "RCO start past the frame", args: "id 42 remcsumrx", c: crafted{vx: vxHeader(flagI|0x00200000, 42, 0x7f)},
			inner: plainFrame, link: []string{"drop_remcsum_truncated"}},
		{name: "RCO bit without remcsumrx", args: "id 42", c: crafted{vx: vxHeader(flagI|0x00200000, 42, 0x11)},
			inner: plainFrame, link: []string{"drop_invalid_hdr", "rx_frame_errors", "rx_errors"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
				in := newInjector(t, lab, "192.0.2.9", "2001:db8::9")
				cfgArgs := tc.args
				if !bytes.Contains([]byte(cfgArgs), []byte("dstport")) {
					cfgArgs += " dstport 4789"
				}
				l := h.MustAddLink(t, "vx0", cfgArgs)
				if tc.other != "" {
					// Keeps the socket open while vx0 is down.
					h.MustAddLink(t, "vx1", tc.other+" dstport 4789")
				}
				if tc.down {
					l.SetUp(false)
				}
				c := tc.c
				if !c.dst.IsValid() {
					c.dst = vtep1
				}
				if c.src.IsValid() == false {
					c.src = in.addr[boolIdx(c.dst.Is6())]
				}
				pkt := c.build(tc.inner)
				if tc.mangle != nil {
					pkt = tc.mangle(pkt)
				}
				in.sendRaw(pkt)
				got := recvAll(l)
				if tc.deliver != (len(got) == 1) {
					t.Fatalf("delivered %d frames, want delivery %v", len(got), tc.deliver)
				}
				if tc.deliver && !bytes.Equal(got[0].Data, tc.inner) {
					t.Errorf("delivered %x, want %x", got[0].Data, tc.inner)
				}
				checkCounters(t, "link", l.Stats().Map(), tc.link)
				checkCounters(t, "host", h.VTEP.Stats().Map(), tc.host)
			})
		})
	}
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shorten cuts n bytes off the end of an IPv4 packet and fixes its lengths
// (the checksums no longer matter: the UDP one is zeroed).
func shorten(p []byte, n int) []byte {
	p = p[:len(p)-n]
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[10:], 0)
	binary.BigEndian.PutUint16(p[10:], ^naiveSum(p[:20]))
	binary.BigEndian.PutUint16(p[24:], uint16(len(p)-20))
	binary.BigEndian.PutUint16(p[26:], 0)
	return p
}

// checkCounters checks that the named counters are 1, that every other
// drop and error counter is 0.
func checkCounters(t *testing.T, what string, got map[string]uint64, want []string) {
	t.Helper()
	for _, n := range want {
		if got[n] != 1 {
			t.Errorf("%s %s = %d, want 1", what, n, got[n])
		}
	}
	for n, v := range got {
		if v == 0 || bytes.Contains([]byte(fmt.Sprint(want)), []byte(n)) {
			continue
		}
		if bytes.HasPrefix([]byte(n), []byte("drop_")) || bytes.HasSuffix([]byte(n), []byte("errors")) || bytes.HasSuffix([]byte(n), []byte("dropped")) {
			t.Errorf("%s %s = %d, want 0", what, n, v)
		}
	}
}

// TestECNDecapsulation checks RFC 6040 §4.2 decapsulation on IPv4 and
// IPv6 inner packets (INET_ECN_decapsulate): outer CE marks an ECN-capable
// inner packet CE, outer ECT(1) turns inner ECT(0) into ECT(1), and outer
// CE over Not-ECT is dropped with rx_errors; the inner IPv4 header checksum
// stays valid. The rows of vxlan_bridge_1d.sh test_ecn_decap are included.
func TestECNDecapsulation(t *testing.T) {
	// result[inner][outer]; -1 means drop.
	result := [4][4]int{
		{0, 0, 0, -1},
		{1, 1, 1, 3},
		{2, 1, 2, 3},
		{3, 3, 3, 3},
	}
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		in := newInjector(t, lab, "192.0.2.9")
		l := h.MustAddLink(t, "vx0", "id 42 dstport 4789 nolearning")
		drops := 0
		for _, v6 := range []bool{false, true} {
			for inner := range 4 {
				for outer := range 4 {
					src, dst := ipA, ipB
					if v6 {
						src, dst = ip6A, ip6B
					}
					f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: src, Dst: dst, TOS: 0xa0 | uint8(inner)}, 1, 2, nil)
					in.send(crafted{dst: vtep1, vx: vx42, tos: 0x40 | uint8(outer)}, f)
					got := recvAll(l)
					want := result[inner][outer]
					if want < 0 {
						drops++
						if len(got) != 0 {
							t.Errorf("v6=%v inner %02b outer %02b: delivered, want drop", v6, inner, outer)
						}
						continue
					}
					if len(got) != 1 {
						t.Fatalf("v6=%v inner %02b outer %02b: %d frames", v6, inner, outer, len(got))
					}
					nh := got[0].Data[14:]
					var ecn uint8
					if v6 {
						ecn = uint8(binary.BigEndian.Uint16(nh)>>4) & 3
					} else {
						ecn = nh[1] & 3
						if naiveSum(nh[:20]) != 0xffff {
							t.Errorf("inner %02b outer %02b: IPv4 header checksum broken", inner, outer)
						}
					}
					if int(ecn) != want {
						t.Errorf("v6=%v inner %02b outer %02b: inner ECN %02b, want %02b", v6, inner, outer, ecn, want)
					}
					if want == inner && !bytes.Equal(got[0].Data, f) {
						t.Errorf("v6=%v inner %02b outer %02b: frame changed", v6, inner, outer)
					}
				}
			}
		}
		if got := counter(l, "drop_ecn"); got != uint64(drops) || counter(l, "rx_errors") != uint64(drops) {
			t.Errorf("drop_ecn = %d rx_errors = %d, want %d", got, counter(l, "rx_errors"), drops)
		}
	})
}

// TestGBPRoundTrip: with gbp, a frame's mark becomes the Group Policy
// header (vxlan_build_gbp_hdr: G flag, D and A bits, policy ID) and the
// receiver turns it back into the mark (vxlan_parse_gbp_hdr), D<<22 | A<<19
// | ID; a zero mark sends a plain header.
func TestGBPRoundTrip(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "gbp")
		for _, mark := range []uint32{0x400000 | 0x80000 | 0x1234, 0x80000 | 0xff, 0xbeef, 0} {
			f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, payload(8))
			l1.SendMeta(f, tap.Meta{Mark: mark})
			got := expectFrames(t, l2, f)
			if got[0].Meta.Mark != mark {
				t.Errorf("received mark %#x, want %#x", got[0].Meta.Mark, mark)
			}
			o := decodeOuter(t, rec.take()[0].pkt)
			w0 := binary.BigEndian.Uint32(o.vx[0:])
			want := uint32(flagI)
			if mark != 0 {
				want |= 0x80000000 | mark
			}
			if w0 != want {
				t.Errorf("mark %#x: header word %#08x, want %#08x", mark, w0, want)
			}
		}
		// A port without marks can use a default policy.
		l1.SetDefaultMark(0x77)
		f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, nil)
		l1.Send(f)
		if got := expectFrames(t, l2, f); got[0].Meta.Mark != 0x77 {
			t.Errorf("default mark: received %#x", got[0].Meta.Mark)
		}
	})
}

// TestRemoteChecksumOffloadRoundTrip: with remcsumtx, a frame whose inner
// TCP/UDP checksum is partial goes out with the C bit and the checksum
// start/offset in the VNI word's low byte and the pseudo-header sum left in
// the inner field (vxlan_build_skb, vxlan_compute_rco); the remcsumrx
// receiver hands it on as partial, or completes it for a port without
// metadata (skb_remcsum_process).
func TestRemoteChecksumOffloadRoundTrip(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "udpcsum remcsumtx remcsumrx")
		for _, proto := range []string{"tcp", "udp"} {
			h := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}
			var full []byte
			if proto == "tcp" {
				full = netlab.TCP(h, 1000, 80, 7, payload(300))
			} else {
				full = netlab.UDP(h, 1000, 53, payload(300))
			}
			partial := bytes.Clone(full)
			m := netlab.PartialChecksum(partial)
			l1.SendMeta(partial, m)
			got := expectFrames(t, l2, partial)
			if gm := got[0].Meta; !gm.ChecksumPartial || gm.ChecksumStart != m.ChecksumStart || gm.ChecksumOffset != m.ChecksumOffset {
				t.Errorf("%s: received meta %+v, want partial %d/%d", proto, gm, m.ChecksumStart, m.ChecksumOffset)
			}
			o := decodeOuter(t, rec.take()[0].pkt)
			w0, w1 := binary.BigEndian.Uint32(o.vx[0:]), binary.BigEndian.Uint32(o.vx[4:])
			wantLow := uint32(m.ChecksumStart >> 1)
			if proto == "udp" {
				wantLow |= 0x80
			}
			if w0 != flagI|0x00200000 || w1&0xff != wantLow {
				t.Errorf("%s: VXLAN header %#08x %#08x, want C bit and low byte %#x", proto, w0, w1, wantLow)
			}
		}

		// A receiver port without metadata gets the checksum completed.
		p := tap.NewPipe(tap.PipeOptions{})
		cfg := l2.Config()
		cfg.Name, cfg.VNI = "vx1", 43
		if _, err := l2.Host.VTEP.AddLink(cfg, plainDevice{p}); err != nil {
			t.Fatal(err)
		}
		l2.Host.VTEP.Link("vx1").SetUp(true)
		cfg1 := l1.Config()
		cfg1.Name, cfg1.VNI = "vx1", 43
		l1b, err := l1.Host.AddLinkConfig(cfg1, true)
		if err != nil {
			t.Fatal(err)
		}
		full := netlab.TCP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 1, 2, 3, payload(99))
		partial := bytes.Clone(full)
		l1b.SendMeta(partial, netlab.PartialChecksum(partial))
		synctest.Wait()
		select {
		case f := <-p.Out():
			if !bytes.Equal(f.Data, full) {
				t.Errorf("completed frame\n got %x\nwant %x", f.Data, full)
			}
		default:
			t.Fatal("nothing delivered to the plain port")
		}
	})
}

// plainDevice hides the metadata methods of a Pipe, like a Linux TAP.
type plainDevice struct{ p *tap.Pipe }

func (d plainDevice) Read(b [][]byte, s []int, o int) (int, error) { return d.p.Read(b, s, o) }
func (d plainDevice) Write(b [][]byte, o int) (int, error)         { return d.p.Write(b, o) }
func (d plainDevice) BatchSize() int                               { return d.p.BatchSize() }
func (d plainDevice) Close() error                                 { return d.p.Close() }
