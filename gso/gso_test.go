package gso_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
)

const offset = 128 // headroom in front of every output frame, like tap.Headroom

func outBufs(n, size int) ([][]byte, []int) {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, offset+size)
	}
	return out, make([]int, n)
}

// expectedSegments builds, with gsotest (independent of gso), the frames
// the kernel's tcp_gso_segment / __udp_gso_segment produce from super.
func expectedSegments(super gsotest.Frame, mss int) [][]byte {
	var segs [][]byte
	p := super.Payload
	n := (len(p) + mss - 1) / mss
	if n == 0 {
		n = 1
	}
	for i := range n {
		f := super
		end := min((i+1)*mss, len(p))
		f.Payload = p[i*mss : end]
		f.ID = super.ID + uint16(i)
		if !f.UDP {
			f.Seq = super.Seq + uint32(i*mss)
			if f.Flags == 0 {
				f.Flags = gsotest.ACK
			}
			if i != n-1 {
				f.Flags &^= gsotest.FIN | gsotest.PSH
			}
			if i != 0 {
				f.Flags &^= gsotest.CWR
			}
		}
		segs = append(segs, f.Build())
	}
	return segs
}

var (
	tsOption = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamps
	macA     = [6]byte{0x02, 0xaa, 0, 0, 0, 1}
	macB     = [6]byte{0x02, 0xbb, 0, 0, 0, 2}
)

// TestSplitMatchesKernelSegmentation checks each segment against the frame
// the kernel would produce (tcp_gso_segment in net/ipv4/tcp_offload.c,
// __udp_gso_segment in net/ipv4/udp_offload.c, inet_gso_segment's IPv4 ID
// increment): IPv4 ID +i, lengths, header checksum, TCP seq +i*gso_size,
// FIN/PSH only on the last segment, CWR only on the first, full L4 checksum.
func TestSplitMatchesKernelSegmentation(t *testing.T) {
	tests := []struct {
		name  string
		f     gsotest.Frame
		n     int // payload bytes
		mss   int
		nSegs int
	}{
		{"tcp4 64KiB", gsotest.Frame{ID: 0xfff0, Seq: 0xffff0000, Ack: 7}, 65535 - 40, 1448, 46},
		{"tcp4 exact multiple", gsotest.Frame{ID: 1, Seq: 1}, 4 * 1000, 1000, 4},
		{"tcp4 shorter last segment", gsotest.Frame{ID: 1, Seq: 1}, 3*1000 + 1, 1000, 4},
		{"tcp4 payload fits one segment", gsotest.Frame{ID: 1, Seq: 1, Flags: gsotest.ACK | gsotest.PSH}, 500, 1000, 1},
		{"tcp4 PSH and FIN only on last", gsotest.Frame{Seq: 10, Flags: gsotest.ACK | gsotest.PSH | gsotest.FIN}, 5000, 1400, 4},
		{"tcp4 CWR only on first", gsotest.Frame{Seq: 10, Flags: gsotest.ACK | gsotest.CWR | gsotest.ECE, TOS: 2}, 5000, 1400, 4},
		{"tcp4 DF and options", gsotest.Frame{DF: true, ID: 9, TCPOptions: tsOption}, 9000, 1448, 7},
		{"tcp4 802.1Q", gsotest.Frame{VLANs: []uint32{0x8100_0064}}, 3000, 1000, 3},
		{"tcp4 802.1ad+802.1Q", gsotest.Frame{VLANs: []uint32{0x88a8_0010, 0x8100_0064}}, 3000, 1000, 3},
		{"tcp6", gsotest.Frame{IPv6: true, Seq: 5, FlowLabel: 0x12345, TOS: 0x20}, 60000, 1428, 43},
		{"tcp6 options vlan", gsotest.Frame{IPv6: true, TCPOptions: tsOption, VLANs: []uint32{0x8100_0005}}, 10000, 1400, 8},
		{"udp4", gsotest.Frame{UDP: true, ID: 3}, 8000, 1000, 8},
		{"udp4 shorter tail", gsotest.Frame{UDP: true}, 8001, 1000, 9},
		{"udp6", gsotest.Frame{UDP: true, IPv6: true}, 6000, 1200, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Dst, f.Src = macA, macB
			f.Payload = gsotest.Payload(tt.n, 3)
			in := f.PartialFrame()
			h := f.TSOHdr(tt.mss)
			orig := bytes.Clone(in)
			out, sizes := outBufs(64, 1600)
			n, err := gso.Split(out, sizes, offset, in, h, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, orig) {
				t.Error("Split modified its input")
			}
			want := expectedSegments(f, tt.mss)
			if n != tt.nSegs || n != len(want) {
				t.Fatalf("n = %d, want %d (expected %d)", n, tt.nSegs, len(want))
			}
			for i := range n {
				got := out[i][offset : offset+sizes[i]]
				if !bytes.Equal(got, want[i]) {
					t.Errorf("segment %d differs:\n got %x\nwant %x", i, got, want[i])
				}
			}
		})
	}
}

// TestSplitDecodesWithGopacket is a differential check against an
// independent decoder: every segment decodes cleanly and its checksums
// verify when recomputed by gopacket's serializer.
func TestSplitDecodesWithGopacket(t *testing.T) {
	f := gsotest.Frame{ID: 100, Seq: 1000, Ack: 2000, TCPOptions: tsOption, VLANs: []uint32{0x8100_0007},
		Flags: gsotest.ACK | gsotest.PSH, Payload: gsotest.Payload(20000, 1)}
	in := f.PartialFrame()
	out, sizes := outBufs(64, 1600)
	n, err := gso.Split(out, sizes, offset, in, f.TSOHdr(1448), 0)
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for i := range n {
		seg := out[i][offset : offset+sizes[i]]
		p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("segment %d: %v", i, el.Error())
		}
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip.Id != 100+uint16(i) || tcp.Seq != 1000+uint32(i*1448) || tcp.Ack != 2000 {
			t.Errorf("segment %d: id %d seq %d ack %d", i, ip.Id, tcp.Seq, tcp.Ack)
		}
		if tcp.PSH != (i == n-1) {
			t.Errorf("segment %d: PSH = %v", i, tcp.PSH)
		}
		// Re-serialize with computed checksums and compare the fields.
		wantIP, wantTCP := ip.Checksum, tcp.Checksum
		buf := gopacket.NewSerializeBuffer()
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
		if err := gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(tcp.Payload)); err != nil {
			t.Fatal(err)
		}
		re := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if got := re.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Checksum; got != wantIP {
			t.Errorf("segment %d: IPv4 checksum %#04x, gopacket computes %#04x", i, wantIP, got)
		}
		if got := re.Layer(layers.LayerTypeTCP).(*layers.TCP).Checksum; got != wantTCP {
			t.Errorf("segment %d: TCP checksum %#04x, gopacket computes %#04x", i, wantTCP, got)
		}
		total += len(tcp.Payload)
	}
	if total != 20000 {
		t.Errorf("payload total %d, want 20000", total)
	}
}

// TestSplitPartialChecksum leaves the folded pseudo-header sum in every
// segment (CHECKSUM_PARTIAL, as used by VXLAN remote checksum offload,
// draft-herbert-vxlan-rco); completing it gives the full checksum.
func TestSplitPartialChecksum(t *testing.T) {
	for _, udp := range []bool{false, true} {
		f := gsotest.Frame{UDP: udp, IPv6: udp, Seq: 1, Payload: gsotest.Payload(5000, 9)}
		in := f.PartialFrame()
		h := f.TSOHdr(1200)
		l, err := gso.Parse(in, h)
		if err != nil {
			t.Fatal(err)
		}
		out, sizes := outBufs(8, 1600)
		n, err := gso.Split(out, sizes, offset, in, h, gso.PartialChecksum)
		if err != nil {
			t.Fatal(err)
		}
		want := expectedSegments(f, 1200)
		for i := range n {
			seg := out[i][offset : offset+sizes[i]]
			if err := gso.CompleteChecksum(seg, l.CsumStart, l.CsumOffset); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(seg, want[i]) {
				t.Errorf("udp=%v segment %d: completed partial checksum differs from the full one", udp, i)
			}
		}
	}
}

// TestCompleteChecksumGSONone finishes a CHECKSUM_PARTIAL frame the way
// skb_checksum_help does (net/core/dev.c), including writing 0 as 0xFFFF.
func TestCompleteChecksumGSONone(t *testing.T) {
	f := gsotest.Frame{Seq: 5, Payload: []byte("hello")}
	want := f.Build()
	in := f.PartialFrame()
	h := header.VirtioNetHdrFields{Flags: header.VirtioNetHdrFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
	out, sizes := outBufs(1, 100)
	n, err := gso.Split(out, sizes, offset, in, h, 0)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if got := out[0][offset : offset+sizes[0]]; !bytes.Equal(got, want) {
		t.Errorf("got %x\nwant %x", got, want)
	}
	// Without NEEDS_CSUM the frame is copied untouched.
	n, err = gso.Split(out, sizes, offset, in, header.VirtioNetHdrFields{}, 0)
	if err != nil || n != 1 || !bytes.Equal(out[0][offset:offset+sizes[0]], in) {
		t.Errorf("GSO_NONE copy: n=%d err=%v", n, err)
	}
	// A sum that completes to 0 is written as 0xFFFF.
	z := make([]byte, 8)
	binary.BigEndian.PutUint16(z[6:], 0xffff) // seed -0: sum of all = 0xffff → checksum 0
	if err := gso.CompleteChecksum(z, 0, 6); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint16(z[6:]); got != 0xffff {
		t.Errorf("zero checksum written as %#04x, want 0xffff", got)
	}
}

// TestSplitIPv6ExtensionHeaders skips hop-by-hop and destination options
// headers the way ipv6_gso_segment does (net/ipv6/ip6_offload.c) and keeps
// them in every segment.
func TestSplitIPv6ExtensionHeaders(t *testing.T) {
	f := gsotest.Frame{IPv6: true, Seq: 77, Payload: gsotest.Payload(3000, 5)}
	plain := f.PartialFrame()
	// Insert an 8-byte hop-by-hop header (next header TCP, PadN) after the
	// fixed IPv6 header.
	ext := []byte{6, 0, 1, 4, 0, 0, 0, 0}
	in := append(append(append([]byte{}, plain[:54]...), ext...), plain[54:]...)
	in[14+6] = 0 // next header: hop-by-hop
	binary.BigEndian.PutUint16(in[14+4:], binary.BigEndian.Uint16(in[14+4:])+8)
	h := f.TSOHdr(1000)
	h.CsumStart += 8
	h.HdrLen += 8
	out, sizes := outBufs(4, 1600)
	n, err := gso.Split(out, sizes, offset, in, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("n = %d", n)
	}
	for i := range n {
		seg := out[i][offset : offset+sizes[i]]
		if !bytes.Equal(seg[54:62], ext) {
			t.Errorf("segment %d lost the extension header", i)
		}
		if pl := binary.BigEndian.Uint16(seg[18:]); int(pl) != len(seg)-54 {
			t.Errorf("segment %d payload length %d, want %d", i, pl, len(seg)-54)
		}
		tcp := seg[62:]
		ps := checksum.Pseudo(seg[22:38], seg[38:54], 6, uint32(len(tcp)))
		if checksum.Checksum(tcp, ps) != 0 {
			t.Errorf("segment %d: bad TCP checksum", i)
		}
	}
}

// TestSplitRecomputesHeaderLength ignores a bogus hdr_len (tun_linux.go in
// wireguard-go: a forwarded skb may report the whole first packet).
func TestSplitRecomputesHeaderLength(t *testing.T) {
	f := gsotest.Frame{Seq: 1, TCPOptions: tsOption, Payload: gsotest.Payload(4000, 2)}
	in := f.PartialFrame()
	h := f.TSOHdr(1000)
	h.HdrLen = 1500
	out, sizes := outBufs(8, 1600)
	n, err := gso.Split(out, sizes, offset, in, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedSegments(f, 1000)
	for i := range n {
		if !bytes.Equal(out[i][offset:offset+sizes[i]], want[i]) {
			t.Errorf("segment %d differs", i)
		}
	}
}

// TestSplitRejectsMalformed returns errors (never panics) for headers that
// virtio_net_hdr_to_skb or the GSO code would reject.
func TestSplitRejectsMalformed(t *testing.T) {
	tcp4 := gsotest.Frame{Payload: gsotest.Payload(3000, 1)}
	udp4 := gsotest.Frame{UDP: true, Payload: gsotest.Payload(3000, 1)}
	tcp6 := gsotest.Frame{IPv6: true, Payload: gsotest.Payload(3000, 1)}
	frag := gsotest.Frame{Payload: gsotest.Payload(3000, 1)}
	type tc struct {
		name string
		in   []byte
		h    header.VirtioNetHdrFields
		want error
	}
	mod := func(f gsotest.Frame, m func(*header.VirtioNetHdrFields)) header.VirtioNetHdrFields {
		h := f.TSOHdr(1000)
		m(&h)
		return h
	}
	fragIn := frag.PartialFrame()
	fragIn[14+6] = 0x20 // MF
	shortDoff := tcp4.PartialFrame()
	shortDoff[34+12] = 0x40
	tests := []tc{
		{"bad csum_start", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.CsumStart = 30 }), gso.ErrInvalid},
		{"bad csum_offset", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.CsumOffset = 6 }), gso.ErrInvalid},
		{"TCP gso type with UDP", udp4.PartialFrame(), mod(udp4, func(h *header.VirtioNetHdrFields) { h.GSOType, h.CsumOffset = 1, 16 }), gso.ErrInvalid},
		{"UDP_L4 with TCP", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.GSOType, h.CsumOffset = 5, 6 }), gso.ErrInvalid},
		{"TCPV4 with IPv6", tcp6.PartialFrame(), mod(tcp6, func(h *header.VirtioNetHdrFields) { h.GSOType = 1 }), gso.ErrInvalid},
		{"TCPV6 with IPv4", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.GSOType = 4 }), gso.ErrInvalid},
		{"gso_size 0", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.GSOSize = 0 }), gso.ErrInvalid},
		{"gso_size beyond 64 KiB", tcp4.PartialFrame(), mod(tcp4, func(h *header.VirtioNetHdrFields) { h.GSOSize = 65535 }), nil},
		{"UFO", udp4.PartialFrame(), mod(udp4, func(h *header.VirtioNetHdrFields) { h.GSOType = 3 }), gso.ErrUnsupported},
		{"IPv4 fragment", fragIn, frag.TSOHdr(1000), gso.ErrInvalid},
		{"TCP data offset < 5", shortDoff, tcp4.TSOHdr(1000), gso.ErrInvalid},
		{"truncated Ethernet", []byte{1, 2, 3}, tcp4.TSOHdr(1000), gso.ErrInvalid},
		{"truncated IPv4", tcp4.PartialFrame()[:30], tcp4.TSOHdr(1000), gso.ErrInvalid},
		{"truncated TCP", tcp4.PartialFrame()[:40], tcp4.TSOHdr(1000), gso.ErrInvalid},
		{"ARP", append([]byte{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 8, 6}, make([]byte, 28)...), tcp4.TSOHdr(1000), gso.ErrInvalid},
		{"NONE csum beyond frame", tcp4.PartialFrame(), header.VirtioNetHdrFields{Flags: 1, CsumStart: 3050, CsumOffset: 16}, gso.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, sizes := outBufs(8, 4000)
			n, err := gso.Split(out, sizes, offset, tt.in, tt.h, 0)
			if tt.want == nil {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || n != 0 {
				t.Errorf("n=%d err=%v, want %v", n, err, tt.want)
			}
		})
	}
}

// TestSplitChecksOutputBeforeWriting reports too few or too short output
// buffers without writing anything.
func TestSplitChecksOutputBeforeWriting(t *testing.T) {
	f := gsotest.Frame{Payload: gsotest.Payload(5000, 1)}
	in := f.PartialFrame()
	h := f.TSOHdr(1000)
	out, sizes := outBufs(4, 1600)
	if n, err := gso.Split(out, sizes, offset, in, h, 0); !errors.Is(err, gso.ErrTooManySegments) || n != 0 {
		t.Errorf("4 buffers for 5 segments: n=%d err=%v", n, err)
	}
	out, sizes = outBufs(5, 1600)
	out[4] = out[4][:offset+100]
	if n, err := gso.Split(out, sizes, offset, in, h, 0); !errors.Is(err, gso.ErrShortBuffer) || n != 0 {
		t.Errorf("short last buffer: n=%d err=%v", n, err)
	}
	for i := range 4 {
		if !bytes.Equal(out[i], make([]byte, len(out[i]))) {
			t.Errorf("buffer %d written before the error", i)
		}
	}
	if _, err := gso.Split(out, sizes[:2], offset, in, h, 0); !errors.Is(err, gso.ErrTooManySegments) {
		t.Errorf("short sizes: err=%v", err)
	}
}

// TestParseLayout reports the numbers a UDP_SEGMENT sender needs.
func TestParseLayout(t *testing.T) {
	f := gsotest.Frame{IPv6: true, TCPOptions: tsOption, VLANs: []uint32{0x8100_0001}, Payload: gsotest.Payload(10001, 1)}
	l, err := gso.Parse(f.PartialFrame(), f.TSOHdr(1000))
	if err != nil {
		t.Fatal(err)
	}
	want := gso.Layout{L2Len: 18, CsumStart: 58, CsumOffset: 16, HdrLen: 90, Protocol: 6, IPv6: true,
		GSOSize: 1000, Segments: 11, SegmentLen: 1090, LastLen: 91}
	if l != want {
		t.Errorf("got %+v\nwant %+v", l, want)
	}
}

func TestSplitNoAllocs(t *testing.T) {
	f := gsotest.Frame{SrcIP: netip.MustParseAddr("10.0.0.1"), Payload: gsotest.Payload(60000, 1)}
	in := f.PartialFrame()
	h := f.TSOHdr(1448)
	out, sizes := outBufs(64, 1600)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := gso.Split(out, sizes, offset, in, h, 0); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Split allocates %v times per call", a)
	}
}
