package gro

import (
	"net/netip"
	"testing"

	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
)

type groCase struct {
	name       string
	frames     [][]byte
	meta       []Meta
	cfg        Config
	want       [][]int        // input indices of each output frame
	flushes    map[Reason]int // expected Stats.Flushes (only the listed ones)
	bypassed   map[Reason]int // expected Stats.Bypassed (only the listed ones)
	ignoreID   bool           // fixed-ID flow: gso renumbers IDs
	ignoreCsum bool           // inputs carried checksums gso recomputes
	check      func(*testing.T, Output)
}

func runCases(t *testing.T, cases []groCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.cfg)
			bufs := bufsOf(tc.frames)
			out, err := c.Coalesce(bufs, testOffset, tc.meta)
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, bufs, out, tc.want, tc.ignoreID, tc.ignoreCsum)
			if tc.cfg.ArenaSize == 0 {
				// The vectored engine's arena holds only headers, so
				// it never runs out where these cases make the
				// contiguous one run out.
				vcfg := tc.cfg
				vcfg.Vectored = true
				checkVectored(t, New(vcfg), bufs, tc.meta, out)
			}
			st := c.Stats()
			for r, n := range tc.flushes {
				if int(st.Flushes[r]) != n {
					t.Errorf("Flushes[%v] = %d, want %d", r, st.Flushes[r], n)
				}
			}
			for r, n := range tc.bypassed {
				if int(st.Bypassed[r]) != n {
					t.Errorf("Bypassed[%v] = %d, want %d", r, st.Bypassed[r], n)
				}
			}
			if st.FramesIn != uint64(len(tc.frames)) || st.FramesOut != uint64(len(tc.want)) {
				t.Errorf("FramesIn/Out = %d/%d, want %d/%d", st.FramesIn, st.FramesOut, len(tc.frames), len(tc.want))
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func seq(a, b int) []int {
	var s []int
	for i := a; i < b; i++ {
		s = append(s, i)
	}
	return s
}

// TestCoalesceTCPRules covers tcp_gro_receive (net/ipv4/tcp_offload.c) and
// the network-layer checks it calls (inet_gro_flush, ipv6_gro_flush).
func TestCoalesceTCPRules(t *testing.T) {
	v4 := gsotest.Frame{Seq: 1000, Ack: 55, TCPOptions: tsOpt}
	mk := func(f gsotest.Frame, segs ...func(g *gen) []byte) [][]byte {
		g := newGen(f)
		var out [][]byte
		for _, s := range segs {
			out = append(out, s(g))
		}
		return out
	}
	n := func(size int, mods ...func(*gsotest.Frame)) func(*gen) []byte {
		return func(g *gen) []byte { return g.seg(size, mods...) }
	}
	// Segments built out of sequence order.
	g := newGen(v4)
	s0, s1, s2 := g.seg(1000), g.seg(1000), g.seg(1000)

	cases := []groCase{
		{name: "in order", frames: mk(v4, n(1000), n(1000), n(1000)), want: [][]int{{0, 1, 2}},
			flushes: map[Reason]int{ReasonBatchEnd: 1}},
		{name: "out of order", frames: [][]byte{s0, s2, s1}, want: [][]int{{0}, {1}, {2}},
			flushes: map[Reason]int{ReasonSeq: 2, ReasonBatchEnd: 1}},
		{name: "retransmission", frames: [][]byte{s0, s1, s1, s2}, want: [][]int{{0, 1}, {2, 3}},
			flushes: map[Reason]int{ReasonSeq: 1}},
		{name: "PSH in the middle", frames: mk(v4, n(1000), n(1000, withFlags(gsotest.ACK|gsotest.PSH)), n(1000), n(1000)),
			want: [][]int{{0, 1}, {2, 3}}, flushes: map[Reason]int{ReasonPSHFIN: 1, ReasonBatchEnd: 1},
			check: func(t *testing.T, o Output) {
				if fl := o.Frames[0][testOffset+34+13]; fl != gsotest.ACK|gsotest.PSH {
					t.Errorf("PSH not ORed into the super-frame: flags %#x", fl)
				}
			}},
		{name: "PSH on a new flow is not held", frames: mk(v4, n(1000, withFlags(gsotest.ACK|gsotest.PSH)), n(1000), n(1000)),
			want: [][]int{{0}, {1, 2}}, bypassed: map[Reason]int{ReasonPSHFIN: 1}},
		{name: "differing options", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) {
			f.TCPOptions = []byte{1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2}
		}), n(1000)), want: [][]int{{0}, {1}, {2}}, flushes: map[Reason]int{ReasonOptions: 2}},
		{name: "differing option length", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.TCPOptions = nil })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonOptions: 1}},
		{name: "differing TTL", frames: mk(v4, n(1000), n(1000, withTTL(63))), want: [][]int{{0}, {1}},
			flushes: map[Reason]int{ReasonTTLTOS: 1}},
		{name: "differing TOS", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.TOS = 4 })), want: [][]int{{0}, {1}},
			flushes: map[Reason]int{ReasonTTLTOS: 1}},
		{name: "differing DF", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.DF = true })), want: [][]int{{0}, {1}},
			flushes: map[Reason]int{ReasonTTLTOS: 1}},
		{name: "ACK changes", frames: mk(v4, n(1000), n(1000), n(1000, func(f *gsotest.Frame) { f.Ack = 99 }), n(1000, func(f *gsotest.Frame) { f.Ack = 99 })),
			want: [][]int{{0, 1}, {2, 3}}, flushes: map[Reason]int{ReasonAck: 1}},
		{name: "window changes", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.Window = 100 })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonWindow: 1}},
		{name: "ECE differs", frames: mk(v4, n(1000), n(1000, withFlags(gsotest.ACK|gsotest.ECE))),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonFlags: 1}},
		{name: "64 KB limit", frames: mk(gsotest.Frame{}, repeat(50, n(1448))...),
			want: [][]int{seq(0, 45), seq(45, 50)}, flushes: map[Reason]int{ReasonSizeLimit: 1}},
		{name: "64-segment limit", frames: mk(gsotest.Frame{}, repeat(70, n(100))...),
			want: [][]int{seq(0, 64), seq(64, 70)}, flushes: map[Reason]int{ReasonSegmentLimit: 1}},
		{name: "short segment ends", frames: mk(v4, n(1000), n(1000), n(500), n(1000)),
			want: [][]int{{0, 1, 2}, {3}}, flushes: map[Reason]int{ReasonShortSegment: 1}},
		{name: "larger segment is not merged", frames: mk(v4, n(1000), n(1200), n(1200)),
			want: [][]int{{0}, {1, 2}}, flushes: map[Reason]int{ReasonOversize: 1}},
		{name: "pure ACK passes and completes", frames: mk(v4, n(1000), n(1000), n(0), n(1000)),
			want: [][]int{{0, 1}, {2}, {3}}, flushes: map[Reason]int{ReasonNoPayload: 1}, bypassed: map[Reason]int{ReasonNoPayload: 1}},
		// dev_gro_receive leaves a GSO skb whole unless its gso_size
		// matches the held flow's; a whole super-frame (Meta.Whole)
		// carries no gso_size we could compare, so it always passes.
		{name: "whole super-frame completes its flow and passes", frames: mk(v4, n(1000), n(1000), n(20000), n(1000), n(1000)),
			meta:    []Meta{{}, {}, {Whole: true}, {}, {}},
			want:    [][]int{{0, 1}, {2}, {3, 4}},
			flushes: map[Reason]int{ReasonWhole: 1}, bypassed: map[Reason]int{ReasonWhole: 1}},
		{name: "SYN is never held", frames: mk(v4, n(0, withFlags(gsotest.SYN)), n(1000), n(1000)),
			want: [][]int{{0}, {1, 2}}},
		{name: "RST completes and passes", frames: mk(v4, n(1000), n(1000), n(0, withFlags(gsotest.RST|gsotest.ACK)), n(1000)),
			want: [][]int{{0, 1}, {2}, {3}}, flushes: map[Reason]int{ReasonFlags: 1}, bypassed: map[Reason]int{ReasonFlags: 1}},
		{name: "URG is not merged", frames: mk(v4, n(1000), n(1000, withFlags(gsotest.ACK|gsotest.URG))),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonFlags: 1}},
		{name: "FIN with data merges and ends", frames: mk(v4, n(1000), n(1000, withFlags(gsotest.ACK|gsotest.FIN)), n(1000)),
			want: [][]int{{0, 1}, {2}}, flushes: map[Reason]int{ReasonPSHFIN: 1}},
		{name: "bare FIN completes and passes", frames: mk(v4, n(1000), n(1000), n(0, withFlags(gsotest.ACK|gsotest.FIN))),
			want: [][]int{{0, 1}, {2}}},
		{name: "CWR flush", frames: mk(v4, n(1000), n(1000, withFlags(gsotest.ACK|gsotest.CWR)), n(1000)),
			want: [][]int{{0}, {1, 2}}, flushes: map[Reason]int{ReasonCWR: 1},
			check: func(t *testing.T, o Output) {
				if o.Hdrs[1].GSOType != header.VirtioNetHdrGSOTCPv4|header.VirtioNetHdrGSOECN {
					t.Errorf("gso_type %#x, want TCPV4|ECN (tcp_gro_complete SKB_GSO_TCP_ECN)", o.Hdrs[1].GSOType)
				}
			}},
		{name: "bad checksum", frames: mk(v4, n(1000), n(1000), n(1000, badCsum), n(1000)),
			want: [][]int{{0, 1}, {2}, {3}}, flushes: map[Reason]int{ReasonBadChecksum: 1}, bypassed: map[Reason]int{ReasonBadChecksum: 1}},
		{name: "bad checksum on the head", frames: mk(v4, n(1000, badCsum), n(1000), n(1000)),
			want: [][]int{{0}, {1, 2}}, flushes: map[Reason]int{ReasonBadChecksum: 1}},
		{name: "verified frames skip checksum", frames: mk(v4, n(1000), n(1000, badCsum), n(1000)),
			meta: []Meta{{Verified: true}, {Verified: true}, {Verified: true}}, want: [][]int{{0, 1, 2}}, ignoreCsum: true},
		{name: "padded frame is not GRO-able", frames: mk(v4, n(1000), n(1000), n(6, func(f *gsotest.Frame) { f.Padding = 4 })),
			want: [][]int{{0, 1}, {2}}, flushes: map[Reason]int{ReasonNotGROable: 1}, bypassed: map[Reason]int{ReasonNotGROable: 1}},
		{name: "IPv4 options are not GRO-able", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.IPOptions = []byte{1, 1, 1, 1} })),
			want: [][]int{{0}, {1}}, bypassed: map[Reason]int{ReasonNotGROable: 1}},
		{name: "IPv4 ID fixed with DF", frames: mk(gsotest.Frame{DF: true, ID: 7}, n(1000, withID(7)), n(1000, withID(7)), n(1000, withID(7))),
			want: [][]int{{0, 1, 2}}, ignoreID: true},
		{name: "IPv4 ID fixed then incrementing", frames: mk(gsotest.Frame{DF: true, ID: 7}, n(1000, withID(7)), n(1000, withID(7)), n(1000, withID(8))),
			want: [][]int{{0, 1}, {2}}, ignoreID: true, flushes: map[Reason]int{ReasonIPID: 1}},
		{name: "IPv4 ID incrementing with DF", frames: mk(gsotest.Frame{DF: true, ID: 0xfffe}, n(1000), n(1000), n(1000)),
			want: [][]int{{0, 1, 2}}},
		{name: "IPv4 ID fixed without DF", frames: mk(gsotest.Frame{ID: 7}, n(1000, withID(7)), n(1000, withID(7))),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonIPID: 1}},
		{name: "IPv4 ID jump", frames: mk(v4, n(1000), n(1000), n(1000, withID(200))),
			want: [][]int{{0, 1}, {2}}, flushes: map[Reason]int{ReasonIPID: 1}},
		{name: "IPv6", frames: mk(gsotest.Frame{IPv6: true, TCPOptions: tsOpt, FlowLabel: 0xbeef}, n(1400), n(1400), n(100)),
			want: [][]int{{0, 1, 2}}, check: func(t *testing.T, o Output) {
				h := o.Hdrs[0]
				want := header.VirtioNetHdrFields{Flags: 1, GSOType: header.VirtioNetHdrGSOTCPv6, HdrLen: 14 + 40 + 32, GSOSize: 1400, CsumStart: 54, CsumOffset: 16}
				if h != want {
					t.Errorf("hdr %+v, want %+v", h, want)
				}
			}},
		{name: "IPv6 flow label differs", frames: mk(gsotest.Frame{IPv6: true}, n(1000), n(1000, func(f *gsotest.Frame) { f.FlowLabel = 1 })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonHeader: 1}},
		{name: "IPv6 hop limit differs", frames: mk(gsotest.Frame{IPv6: true}, n(1000), n(1000, withTTL(1))),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonTTLTOS: 1}},
		{name: "IPv6 traffic class differs", frames: mk(gsotest.Frame{IPv6: true}, n(1000), n(1000, func(f *gsotest.Frame) { f.TOS = 0x10 })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonTTLTOS: 1}},
		{name: "VLAN-tagged", frames: mk(gsotest.Frame{VLANs: []uint32{0x8100_0064}}, n(1000), n(1000), n(1000)),
			want: [][]int{{0, 1, 2}}, check: func(t *testing.T, o Output) {
				if h := o.Hdrs[0]; h.CsumStart != 38 || h.HdrLen != 58 {
					t.Errorf("hdr %+v: csum_start/hdr_len must count the tag", h)
				}
			}},
		{name: "QinQ-tagged", frames: mk(gsotest.Frame{VLANs: []uint32{0x88a8_0001, 0x8100_0064}}, n(1000), n(1000)),
			want: [][]int{{0, 1}}},
		{name: "three VLAN tags are not GRO-able", frames: mk(gsotest.Frame{VLANs: []uint32{0x88a8_0001, 0x8100_0064, 0x8100_0065}}, n(1000), n(1000)),
			want: [][]int{{0}, {1}}, bypassed: map[Reason]int{ReasonNotGROable: 2}},
		{name: "VLAN differs", frames: mk(gsotest.Frame{VLANs: []uint32{0x8100_0064}}, n(1000), n(1000, func(f *gsotest.Frame) { f.VLANs = []uint32{0x8100_0065} })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonHeader: 1}},
		{name: "MAC differs", frames: mk(v4, n(1000), n(1000, func(f *gsotest.Frame) { f.Dst = header.MAC{2, 9, 9, 9, 9, 9} })),
			want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonHeader: 1}},
	}
	runCases(t, cases)
}

func repeat(n int, f func(*gen) []byte) []func(*gen) []byte {
	s := make([]func(*gen) []byte, n)
	for i := range s {
		s[i] = f
	}
	return s
}

// TestCoalesceFlows covers the flow table: buckets, order across flows,
// contexts.
func TestCoalesceFlows(t *testing.T) {
	a := newGen(gsotest.Frame{SrcPort: 1})
	b := newGen(gsotest.Frame{SrcPort: 2})
	c := newGen(gsotest.Frame{IPv6: true})
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6}, make([]byte, 28)...)
	interleaved := [][]byte{a.seg(1000), b.seg(1000), a.seg(1000), c.seg(1000), b.seg(1000), arp, a.seg(1000), c.seg(1000)}

	ports := collidingPorts(9)
	var gens []*gen
	for _, p := range ports {
		gens = append(gens, newGen(gsotest.Frame{SrcPort: p}))
	}
	var bucket [][]byte
	for _, g := range gens {
		bucket = append(bucket, g.seg(1000))
	}
	for _, g := range gens[1:] {
		bucket = append(bucket, g.seg(1000))
	}
	bucket = append(bucket, gens[0].seg(1000))
	wantBucket := [][]int{{0}}
	for i := 1; i < 9; i++ {
		wantBucket = append(wantBucket, []int{i, 8 + i})
	}
	wantBucket = append(wantBucket, []int{17})

	x := newGen(gsotest.Frame{})
	y := newGen(gsotest.Frame{})
	ctxFrames := [][]byte{x.seg(1000), y.seg(1000), x.seg(1000), y.seg(1000)}

	runCases(t, []groCase{
		{name: "order preserved across flows", frames: interleaved, want: [][]int{{0, 2, 6}, {1, 4}, {3, 7}, {5}},
			bypassed: map[Reason]int{ReasonNotGROable: 1}},
		{name: "9 flows in one bucket flushes oldest", frames: bucket, want: wantBucket,
			flushes: map[Reason]int{ReasonBucketFull: 2, ReasonBatchEnd: 8}},
		{name: "contexts separate flows", frames: ctxFrames, meta: []Meta{{Context: 1}, {Context: 2}, {Context: 1}, {Context: 2}},
			want: [][]int{{0, 2}, {1, 3}}},
		{name: "same context merges", frames: [][]byte{ctxFrames[0], ctxFrames[2]}, meta: []Meta{{Context: 5}, {Context: 5}},
			want: [][]int{{0, 1}}},
	})
}

// TestCoalesceUDP covers inner UDP coalescing (udp_gro_receive_segment in
// net/ipv4/udp_offload.c) when USO is negotiated.
func TestCoalesceUDP(t *testing.T) {
	mk := func(f gsotest.Frame, sizes ...int) [][]byte {
		g := newGen(f)
		var out [][]byte
		for _, s := range sizes {
			out = append(out, g.seg(s))
		}
		return out
	}
	on := Config{UDP: true}
	udp4 := gsotest.Frame{UDP: true}
	udp6 := gsotest.Frame{UDP: true, IPv6: true}
	zero := gsotest.Frame{UDP: true, ZeroUDPChecksum: true}
	runCases(t, []groCase{
		{name: "equal sizes merge", cfg: on, frames: mk(udp4, 1200, 1200, 1200), want: [][]int{{0, 1, 2}},
			check: func(t *testing.T, o Output) {
				want := header.VirtioNetHdrFields{Flags: 1, GSOType: header.VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: 1200, CsumStart: 34, CsumOffset: 6}
				if o.Hdrs[0] != want {
					t.Errorf("hdr %+v, want %+v", o.Hdrs[0], want)
				}
			}},
		{name: "shorter tail ends", cfg: on, frames: mk(udp6, 1200, 1200, 100, 1200), want: [][]int{{0, 1, 2}, {3}},
			flushes: map[Reason]int{ReasonShortSegment: 1}},
		{name: "larger after smaller", cfg: on, frames: mk(udp4, 1000, 1200), want: [][]int{{0}, {1}},
			flushes: map[Reason]int{ReasonOversize: 1}},
		{name: "64-segment limit", cfg: on, frames: mk(udp4, repeatInt(66, 100)...), want: [][]int{seq(0, 64), seq(64, 66)},
			flushes: map[Reason]int{ReasonSegmentLimit: 1}},
		{name: "zero IPv4 checksum accepted", cfg: on, frames: mk(zero, 500, 500), want: [][]int{{0, 1}}, ignoreCsum: true},
		{name: "zero IPv6 checksum is not GRO-able", cfg: on, frames: func() [][]byte {
			fs := mk(udp6, 500, 500)
			fs[0][14+40+6], fs[0][14+40+7] = 0, 0
			return fs
		}(), want: [][]int{{0}, {1}}},
		{name: "bad checksum", cfg: on, frames: func() [][]byte { g := newGen(udp4); return [][]byte{g.seg(500), g.seg(500, badCsum)} }(),
			want: [][]int{{0}, {1}}, bypassed: map[Reason]int{ReasonBadChecksum: 1}},
		{name: "off without USO", frames: mk(udp4, 500, 500), want: [][]int{{0}, {1}},
			bypassed: map[Reason]int{ReasonNotGROable: 2}},
	})
}

func repeatInt(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestCoalesceArenaFull stops growing flows when the arena is full and
// keeps working.
func TestCoalesceArenaFull(t *testing.T) {
	a := newGen(gsotest.Frame{SrcPort: 1})
	b := newGen(gsotest.Frame{SrcPort: 2})
	var frames [][]byte
	for range 45 {
		frames = append(frames, a.seg(1448))
	}
	frames = append(frames, b.seg(1448), b.seg(1448))
	runCases(t, []groCase{{name: "arena full", cfg: Config{ArenaSize: 1}, frames: frames,
		want: [][]int{seq(0, 45), {45}, {46}}, flushes: map[Reason]int{ReasonNoBuffer: 1}}})
}

// TestCoalesceSuperFrameHeaders checks the fields of a TCP super-frame
// exactly (tcp4_gro_complete / inet_gro_complete).
func TestCoalesceSuperFrameHeaders(t *testing.T) {
	g := newGen(gsotest.Frame{SrcIP: netip.MustParseAddr("10.1.2.3"), DstIP: netip.MustParseAddr("10.3.2.1"), ID: 40, Seq: 9, TCPOptions: tsOpt})
	frames := [][]byte{g.seg(1448), g.seg(1448), g.seg(1448, withFlags(gsotest.ACK|gsotest.PSH))}
	c := New(Config{})
	out, err := c.Coalesce(bufsOf(frames), testOffset, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Frames) != 1 {
		t.Fatalf("%d frames", len(out.Frames))
	}
	fr := out.Frames[0][testOffset:]
	want := gsotest.Frame{SrcIP: netip.MustParseAddr("10.1.2.3"), DstIP: netip.MustParseAddr("10.3.2.1"), ID: 40, Seq: 9,
		TCPOptions: tsOpt, Flags: gsotest.ACK | gsotest.PSH}
	var p []byte
	for _, f := range frames {
		p = append(p, f[66:]...)
	}
	want.Payload = p
	if wf := want.PartialFrame(); string(wf) != string(fr) {
		t.Errorf("super-frame differs from the kernel's:\n got %x\nwant %x", fr[:80], wf[:80])
	}
	wh := header.VirtioNetHdrFields{Flags: header.VirtioNetHdrFlagNeedsCsum, GSOType: header.VirtioNetHdrGSOTCPv4,
		HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	if out.Hdrs[0] != wh {
		t.Errorf("hdr %+v, want %+v", out.Hdrs[0], wh)
	}
	if cap(out.Frames[0]) != len(out.Frames[0]) {
		t.Errorf("arena frame has spare capacity %d: an append would clobber the next frame", cap(out.Frames[0])-len(out.Frames[0]))
	}
	st := c.Stats()
	if st.SuperFrames != 1 || st.SegmentsCoalesced != 3 || st.SegmentsHist[1] != 1 || st.Flushes[ReasonPSHFIN] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCoalesceDoesNotHoldAcrossBatches: every batch ends with everything
// written (NAPI flushes at the end of each poll).
func TestCoalesceDoesNotHoldAcrossBatches(t *testing.T) {
	g := newGen(gsotest.Frame{})
	c := New(Config{})
	b1 := bufsOf([][]byte{g.seg(1000), g.seg(1000)})
	out, _ := c.Coalesce(b1, testOffset, nil)
	checkOutput(t, b1, out, [][]int{{0, 1}}, false, false)
	b2 := bufsOf([][]byte{g.seg(1000), g.seg(1000)})
	out, _ = c.Coalesce(b2, testOffset, nil)
	checkOutput(t, b2, out, [][]int{{0, 1}}, false, false)
	if c.Stats().Flushes[ReasonBatchEnd] != 2 {
		t.Errorf("batch-end flushes %d", c.Stats().Flushes[ReasonBatchEnd])
	}
}

func TestCoalesceArgumentErrors(t *testing.T) {
	c := New(Config{})
	if _, err := c.Coalesce([][]byte{make([]byte, 10)}, 200, nil); err != ErrOffset {
		t.Errorf("offset > headroom: %v", err)
	}
	if _, err := c.Coalesce([][]byte{make([]byte, 10)}, 20, nil); err != ErrOffset {
		t.Errorf("buffer shorter than offset: %v", err)
	}
	if _, err := c.Coalesce([][]byte{make([]byte, 10)}, 0, []Meta{{}, {}}); err != ErrMeta {
		t.Errorf("meta length: %v", err)
	}
	out, err := c.Coalesce(nil, 0, nil)
	if err != nil || len(out.Frames) != 0 {
		t.Errorf("empty batch: %v %v", out, err)
	}
}

func TestReasonString(t *testing.T) {
	for r := range NumReasons {
		if r.String() == "" || r.String() == "unknown" {
			t.Errorf("reason %d has no name", r)
		}
	}
	if NumReasons.String() != "unknown" {
		t.Error("out-of-range reason")
	}
}

// withHopByHop inserts an 8-byte IPv6 hop-by-hop header (PadN carrying
// pad) after the fixed header of an untagged IPv6 frame.
func withHopByHop(fr []byte, pad byte) []byte {
	ext := []byte{fr[14+6], 0, 1, 4, pad, 0, 0, 0}
	out := append(append(append([]byte{}, fr[:54]...), ext...), fr[54:]...)
	out[14+6] = 0
	out[14+5] += 8 // payload length (low byte; frames here are small)
	return out
}

// TestCoalesceIPv6ExtensionHeaders merges segments whose extension headers
// are byte-identical (ipv6_gro_receive compares them) and keeps them in the
// super-frame.
func TestCoalesceIPv6ExtensionHeaders(t *testing.T) {
	g := newGen(gsotest.Frame{IPv6: true})
	a, b, c := withHopByHop(g.seg(100), 0), withHopByHop(g.seg(100), 0), withHopByHop(g.seg(100), 9)
	runCases(t, []groCase{
		{name: "identical", frames: [][]byte{a, b}, want: [][]int{{0, 1}}, check: func(t *testing.T, o Output) {
			if h := o.Hdrs[0]; h.CsumStart != 62 || h.HdrLen != 82 {
				t.Errorf("hdr %+v", h)
			}
		}},
		{name: "differing", frames: [][]byte{a, c}, want: [][]int{{0}, {1}}, flushes: map[Reason]int{ReasonHeader: 1}},
	})
}
