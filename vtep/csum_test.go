package vtep_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
)

// partialCase is an inner frame as a kernel peer might send it.
type partialCase struct {
	name    string
	full    []byte // the frame with a complete checksum
	send    []byte // what goes on the wire
	partial bool   // the receiver must see a partial checksum
	start   uint16
	off     uint16
}

// partialCases builds the frames of TestKernelPeerPartialChecksum.
func partialCases() []partialCase {
	h4 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}
	h6 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B}
	tcp4 := netlab.TCP(h4, 40000, 5201, 1000, payload(1400))
	udp6 := netlab.UDP(h6, 40000, 5201, payload(333))
	vlan := h4
	vlan.VLAN = 7
	tcpVLAN := netlab.TCP(vlan, 40000, 5201, 7, payload(200))

	mkPartial := func(f []byte) []byte {
		p := bytes.Clone(f)
		netlab.PartialChecksum(p)
		return p
	}
	// The VLAN-tagged frame: PartialChecksum handles untagged frames only,
	// so untag, convert and tag again.
	vlanPartial := func() []byte {
		untagged := append(bytes.Clone(tcpVLAN[:12]), tcpVLAN[16:]...)
		netlab.PartialChecksum(untagged)
		return append(bytes.Clone(tcpVLAN[:16]), untagged[12:]...)
	}()

	// A complete checksum that equals the pseudo-header sum by chance:
	// pick the last payload word so that it does.
	lucky := netlab.TCP(h4, 1, 2, 3, payload(100))
	ip := lucky[14:]
	seg := ip[20:]
	ps := checksum.Pseudo(ip[12:16], ip[16:20], header.TCPProtocolNumber, uint32(len(seg)))
	binary.BigEndian.PutUint16(seg[16:], ps)
	binary.BigEndian.PutUint16(seg[len(seg)-2:], 0)
	binary.BigEndian.PutUint16(seg[len(seg)-2:], 0xffff-checksum.Sum(seg, ps))
	if checksum.Sum(seg, ps) != 0xffff {
		panic("lucky frame does not verify")
	}

	bad := bytes.Clone(tcp4)
	bad[len(bad)-1] ^= 0xff // wrong checksum, not a partial one

	frag := netlab.UDP(h4, 1, 2, payload(64))
	netlab.PartialChecksum(frag)
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000) // MF
	binary.BigEndian.PutUint16(frag[14+10:], 0)
	binary.BigEndian.PutUint16(frag[14+10:], checksum.Checksum(frag[14:34], 0))

	return []partialCase{
		{name: "IPv4 TCP partial", full: tcp4, send: mkPartial(tcp4), partial: true, start: 34, off: 16},
		{name: "IPv6 UDP partial", full: udp6, send: mkPartial(udp6), partial: true, start: 54, off: 6},
		{name: "VLAN-tagged IPv4 TCP partial", full: tcpVLAN, send: vlanPartial, partial: true, start: 38, off: 16},
		{name: "complete checksum untouched", full: tcp4, send: tcp4},
		{name: "complete checksum equal to the pseudo sum untouched", full: lucky, send: lucky},
		{name: "bad checksum untouched", full: bad, send: bad},
		{name: "IPv4 fragment untouched", full: frag, send: frag},
	}
}

// TestKernelPeerPartialChecksum: a kernel vxlan peer over a veth sends its
// inner TCP/UDP checksums CHECKSUM_PARTIAL, the field holding only the
// pseudo-header sum (tcp_v4_send_check, udp6_set_csum; the veth never
// finishes them, veth_xmit keeps ip_summed). The receiver finds them
// (field == pseudo-header sum and the checksum does not verify), counts
// rx_csum_partial, and hands them to a metadata port as partial with the
// start and offset a vnet_hdr TAP turns into NEEDS_CSUM, or finishes them
// as skb_checksum_help would for a plain port. Complete, bad, and
// fragmented frames pass unchanged.
func TestKernelPeerPartialChecksum(t *testing.T) {
	for _, tc := range partialCases() {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1")
				in := newInjector(t, lab, "192.0.2.9")
				l := h.MustAddLink(t, "vx0", "id 42 dstport 4789")
				// The same VNI behind a port without metadata (a plain
				// Linux TAP), on another UDP port.
				p := tap.NewPipe(tap.PipeOptions{})
				cfg := l.Config()
				cfg.Name, cfg.VNI = "vx1", 43
				pl, err := h.VTEP.AddLink(cfg, plainDevice{p})
				if err != nil {
					t.Fatal(err)
				}
				pl.SetUp(true)

				in.send(crafted{dst: vtep1, vx: vx42}, tc.send)
				got := expectFrames(t, l, tc.send)
				m := got[0].Meta
				if m.ChecksumPartial != tc.partial || (tc.partial && (m.ChecksumStart != tc.start || m.ChecksumOffset != tc.off)) {
					t.Errorf("meta %+v, want partial %v at %d/%d", m, tc.partial, tc.start, tc.off)
				}
				if tc.partial {
					if done := finished(got[0].Data, m); !bytes.Equal(done, tc.full) {
						t.Errorf("completing the delivered frame does not give the sender's frame")
					}
				}
				checkPartialCount(t, l, tc.partial)

				in.send(crafted{dst: vtep1, vx: vxHeader(flagI, 43, 0)}, tc.send)
				synctest.Wait()
				select {
				case f := <-p.Out():
					if !bytes.Equal(f.Data, tc.full) {
						t.Errorf("plain port got\n %x\nwant\n %x", f.Data, tc.full)
					}
					if f.Meta.ChecksumPartial {
						t.Error("plain port got a partial frame")
					}
				default:
					t.Fatal("nothing delivered to the plain port")
				}
				if got := pl.Stats().Get("rx_csum_partial"); got != uint64(boolIdx(tc.partial)) {
					t.Errorf("plain link rx_csum_partial = %d, want %d", got, boolIdx(tc.partial))
				}
			})
		})
	}
}

// FuzzInnerPartial checks the partial-checksum probe on arbitrary inner
// frames: it never panics, and when it finishes a checksum the result
// verifies.
func FuzzInnerPartial(f *testing.F) {
	for _, tc := range partialCases() {
		f.Add(tc.send)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < header.EthernetSize {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			lab := netlab.NewForTest(t, netlab.Options{})
			h := lab.MustAddHost(t, "h1", "192.0.2.1")
			in := newInjector(t, lab, "192.0.2.9")
			p := tap.NewPipe(tap.PipeOptions{})
			cfg, err := config.ParseArgs(strings.Fields("id 42 dstport 4789 nolearning"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Name = "vx0"
			l, err := h.VTEP.AddLink(cfg, plainDevice{p})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUp(true)
			in.send(crafted{dst: vtep1, vx: vx42}, frame)
			synctest.Wait()
			select {
			case fr := <-p.Out():
				untagged := !header.IsVLANEtherType(binary.BigEndian.Uint16(fr.Data[12:]))
				if untagged && l.Stats().Get("rx_csum_partial") == 1 && !netlab.L4ChecksumValid(fr.Data) {
					t.Errorf("finished checksum does not verify: %x", fr.Data)
				}
			default:
			}
		})
	})
}

// TestVerifiedPayloadHandedOnPartial: when the underlay guarantees that a
// packet carried a non-zero UDP checksum it verified — every packet of an
// IPv6 socket without udp6zerocsumrx (PayloadVerifier), or per packet
// (underlay.InfoReader: LinuxConn for datagrams the kernel coalesced, MemConn
// for any non-zero checksum it checked) — the outer checksum vouches for
// the whole inner frame (RFC 768: it covers the UDP payload), so a
// complete inner TCP/UDP checksum is handed to a metadata port as
// CHECKSUM_PARTIAL (the TAP's GRO then merges it without checking it
// again). An IPv4 packet with a zero outer checksum ("none"), or an inner
// UDP datagram without a checksum, passes unchanged.
func TestVerifiedPayloadHandedOnPartial(t *testing.T) {
	h4 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}
	tcp := netlab.TCP(h4, 40000, 5201, 1000, payload(700))
	noCsum := netlab.UDP(h4, 1, 2, payload(40))
	noCsum[14+20+6], noCsum[14+20+7] = 0, 0
	for _, tc := range []struct {
		name       string
		v6         bool
		outerNoSum bool
		frame      []byte
		partial    bool
	}{
		{"IPv6 underlay, TCP", true, false, tcp, true},
		{"IPv6 underlay, UDP without checksum", true, false, noCsum, false},
		{"IPv4 underlay, TCP, outer checksum", false, false, tcp, true},
		{"IPv4 underlay, TCP, zero outer checksum", false, true, tcp, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, netlab.Options{Network: underlay.NetworkOptions{VerifyChecksums: true}}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
				in := newInjector(t, lab, "192.0.2.9", "2001:db8::9")
				args, dst := "id 42 dstport 4789", vtep1
				if tc.v6 {
					args, dst = "id 42 dstport 4789 local 2001:db8::1", vtep6a
				}
				l := h.MustAddLink(t, "vx0", args)
				in.send(crafted{dst: dst, vx: vx42, noCsum: tc.outerNoSum}, tc.frame)
				got := recvAll(l)
				if len(got) != 1 {
					t.Fatalf("%d frames delivered", len(got))
				}
				m := got[0].Meta
				if m.ChecksumPartial != tc.partial {
					t.Fatalf("meta %+v, want partial %v", m, tc.partial)
				}
				if !tc.partial {
					if !bytes.Equal(got[0].Data, tc.frame) {
						t.Error("frame changed")
					}
					return
				}
				done := bytes.Clone(got[0].Data)
				c := ^checksum.Sum(done[m.ChecksumStart:], 0)
				binary.BigEndian.PutUint16(done[m.ChecksumStart+m.ChecksumOffset:], c)
				if !bytes.Equal(done, tc.frame) {
					t.Error("completing the delivered frame does not give the sender's frame")
				}
				if got := counter(l, "rx_csum_partial"); got != 0 {
					t.Errorf("rx_csum_partial = %d, want 0 (the sender's checksum was complete)", got)
				}
			})
		})
	}
}

// TestWholeTCPBurstGoesOnAsGSO: a kernel peer's TCP GSO burst that crossed
// a veth whole arrives as one datagram (udp_unexpected_gso lets an
// SKB_GSO_UDP_TUNNEL skb through; no UDP_GRO size is reported), and the
// kernel's vxlan_rcv hands it on still a GSO packet. A metadata port gets
// it so: TCPV4 or TCPV6 (with ECN when CWR is set) in segments that fill
// the link's MTU, the checksum partial. The pseudo-header sum in the field
// is taken as partial without summing the frame; a complete checksum that
// verifies is turned partial; a bad one leaves the frame a plain frame,
// for the host to drop. A frame within the MTU is no GSO packet.
func TestWholeTCPBurstGoesOnAsGSO(t *testing.T) {
	h4 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}
	h6 := netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B}
	partialOf := func(f []byte) []byte {
		p := bytes.Clone(f)
		netlab.PartialChecksum(p)
		return p
	}
	cwr := netlab.TCP(h4, 40000, 5201, 1000, payload(30000))
	cwr[14+20+13] |= 0x80
	bad := netlab.TCP(h4, 40000, 5201, 1000, payload(20000))
	bad[len(bad)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		send    []byte
		mtu     int
		gsoType uint8
		gsoSize uint16
		partial bool // counted in rx_csum_partial
	}{
		{"IPv4 partial", partialOf(netlab.TCP(h4, 40000, 5201, 1000, payload(20000))), 0, header.VirtioNetHdrGSOTCPv4, 1500 - 40, true},
		{"IPv6 partial", partialOf(netlab.TCP(h6, 40000, 5201, 1000, payload(60000))), 0, header.VirtioNetHdrGSOTCPv6, 1500 - 60, true},
		{"IPv4 partial, MTU 1450", partialOf(netlab.TCP(h4, 40000, 5201, 1000, payload(20000))), 1450, header.VirtioNetHdrGSOTCPv4, 1450 - 40, true},
		{"CWR asks for ECN", partialOf(cwr), 0, header.VirtioNetHdrGSOTCPv4 | header.VirtioNetHdrGSOECN, 1460, true},
		{"complete checksum made partial", netlab.TCP(h4, 40000, 5201, 1000, payload(20000)), 0, header.VirtioNetHdrGSOTCPv4, 1460, false},
		{"bad checksum stays plain", bad, 0, 0, 0, false},
		{"within the MTU", partialOf(netlab.TCP(h4, 40000, 5201, 1000, payload(1460))), 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1")
				in := newInjector(t, lab, "192.0.2.9")
				l := h.MustAddLink(t, "vx0", "id 42 dstport 4789")
				if tc.mtu != 0 {
					cfg := l.Config()
					cfg.MTU = tc.mtu
					if err := l.Change(cfg); err != nil {
						t.Fatal(err)
					}
				}
				in.send(crafted{dst: vtep1, vx: vx42}, tc.send)
				got := expectFrames(t, l, nil)
				m, f := got[0].Meta, got[0].Data
				if m.GSOType != tc.gsoType || m.GSOSize != tc.gsoSize {
					t.Errorf("gso type %d size %d, want %d %d", m.GSOType, m.GSOSize, tc.gsoType, tc.gsoSize)
				}
				if tc.gsoType != 0 || tc.partial {
					// Finished as the kernel would, the frame is the
					// sender's with a valid checksum.
					if !m.ChecksumPartial {
						t.Fatal("checksum not marked partial")
					}
					done := finished(f, m)
					if !netlab.L4ChecksumValid(done) || !bytes.Equal(done[:m.ChecksumStart+m.ChecksumOffset], tc.send[:m.ChecksumStart+m.ChecksumOffset]) {
						t.Error("finishing the delivered frame does not give a valid copy of the sender's")
					}
				} else if m.ChecksumPartial || !bytes.Equal(f, tc.send) {
					t.Error("the frame was changed or marked partial")
				}
				checkPartialCount(t, l, tc.partial)
			})
		})
	}
}

// finished returns a copy of frame with the partial checksum m describes
// completed, as the kernel would.
func finished(frame []byte, m tap.Meta) []byte {
	done := bytes.Clone(frame)
	c := ^checksum.Sum(done[m.ChecksumStart:], 0)
	binary.BigEndian.PutUint16(done[m.ChecksumStart+m.ChecksumOffset:], c)
	return done
}

// checkPartialCount checks that l counted one partial checksum in
// rx_csum_partial if partial, else none.
func checkPartialCount(t *testing.T, l *netlab.Link, partial bool) {
	t.Helper()
	if got, want := counter(l, "rx_csum_partial"), uint64(boolIdx(partial)); got != want {
		t.Errorf("rx_csum_partial = %d, want %d", got, want)
	}
}
