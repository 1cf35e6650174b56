package gro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
)

const testOffset = 100 // headroom in front of every input frame

var tsOpt = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}

// gen produces consecutive segments of one TCP or UDP flow: each call
// advances the sequence number by the payload and the IPv4 ID by one.
type gen struct {
	f   gsotest.Frame
	seq uint32
	id  uint16
}

func newGen(f gsotest.Frame) *gen { return &gen{f: f, seq: f.Seq, id: f.ID} }

// seg builds the next segment with n payload bytes; mods edit the frame
// (after seq and ID are set) before it is built.
func (g *gen) seg(n int, mods ...func(*gsotest.Frame)) []byte {
	f := g.f
	f.Seq, f.ID = g.seq, g.id
	f.Payload = gsotest.Payload(n, byte(g.seq))
	for _, m := range mods {
		m(&f)
	}
	g.seq += uint32(n)
	g.id++
	return f.Build()
}

func withFlags(fl uint8) func(*gsotest.Frame) { return func(f *gsotest.Frame) { f.Flags = fl } }
func withTTL(ttl uint8) func(*gsotest.Frame)  { return func(f *gsotest.Frame) { f.TTL = ttl } }
func withID(id uint16) func(*gsotest.Frame)   { return func(f *gsotest.Frame) { f.ID = id } }
func withSeq(s uint32) func(*gsotest.Frame)   { return func(f *gsotest.Frame) { f.Seq = s } }
func badCsum(f *gsotest.Frame)                { f.BadChecksum = true }

// bufsOf puts every frame at testOffset in its own buffer.
func bufsOf(frames [][]byte) [][]byte {
	bufs := make([][]byte, len(frames))
	for i, fr := range frames {
		b := make([]byte, testOffset+len(fr))
		copy(b[testOffset:], fr)
		bufs[i] = b
	}
	return bufs
}

// checkOutput verifies out against the input frames and the expected
// grouping want (input indices of each output frame, in order):
//   - an output of one segment is the input buffer itself with a zero header;
//   - a super-frame, split again with gso, gives back exactly its input
//     segments (ignoreID: except the IPv4 ID and header checksum, for
//     fixed-ID flows, which gso numbers upward; ignoreCsum: except the
//     TCP/UDP checksum, for inputs whose checksum was bad or zero).
func checkOutput(t *testing.T, bufs [][]byte, out Output, want [][]int, ignoreID, ignoreCsum bool) {
	t.Helper()
	if len(out.Frames) != len(out.Hdrs) || len(out.Frames) != len(out.Index) || len(out.Frames) != len(out.Segs) {
		t.Fatalf("output slices differ in length: %d %d %d %d", len(out.Frames), len(out.Hdrs), len(out.Index), len(out.Segs))
	}
	var got [][]int
	for j := range out.Frames {
		got = append(got, []int{out.Index[j], out.Segs[j]})
	}
	var wantShape [][]int
	for _, g := range want {
		wantShape = append(wantShape, []int{g[0], len(g)})
	}
	if fmt.Sprint(got) != fmt.Sprint(wantShape) {
		t.Fatalf("output (first index, segments) = %v, want %v", got, wantShape)
	}
	for j, g := range want {
		fr := out.Frames[j][testOffset:]
		h := out.Hdrs[j]
		if len(g) == 1 {
			if &out.Frames[j][0] != &bufs[g[0]][0] || len(out.Frames[j]) != len(bufs[g[0]]) {
				t.Errorf("output %d: untouched frame is not input buffer %d", j, g[0])
			}
			if h != (header.VirtioNetHdrFields{}) {
				t.Errorf("output %d: untouched frame has header %+v", j, h)
			}
			continue
		}
		segs, sizes := splitScratch()
		n, err := gso.Split(segs, sizes, 0, fr, h, 0)
		if err != nil {
			t.Errorf("output %d: gso.Split: %v (hdr %+v)", j, err, h)
			continue
		}
		if n != len(g) {
			t.Errorf("output %d: splits into %d segments, want %d", j, n, len(g))
			continue
		}
		for k, idx := range g {
			a, b := segs[k][:sizes[k]], bufs[idx][testOffset:]
			if et, l2, ok := header.Ethernet(b).PayloadOffset(); ignoreID && ok && et == header.EtherTypeIPv4 && len(a) == len(b) {
				a, b = bytes.Clone(a), bytes.Clone(b)
				copy(a[l2+4:l2+6], b[l2+4:l2+6])
				copy(a[l2+10:l2+12], b[l2+10:l2+12])
			}
			if ignoreCsum && len(a) == len(b) {
				a, b = bytes.Clone(a), bytes.Clone(b)
				at := int(h.CsumStart) + int(h.CsumOffset)
				copy(a[at:at+2], b[at:at+2])
			}
			if !bytes.Equal(a, b) {
				t.Errorf("output %d segment %d differs from input %d:\n got %x\nwant %x", j, k, idx, a, b)
			}
		}
	}
}

// collidingPorts returns n source ports whose flows (192.0.2.1→192.0.2.2,
// TCP, destination port 2000, context 0) land in the same bucket.
func collidingPorts(n int) []uint16 {
	byBucket := map[int][]uint16{}
	for p := uint16(1); ; p++ {
		k := flowKey{proto: 6, ports: uint32(p)<<16 | 2000}
		copy(k.src[:], []byte{192, 0, 2, 1})
		copy(k.dst[:], []byte{192, 0, 2, 2})
		b := k.bucket()
		byBucket[b] = append(byBucket[b], p)
		if len(byBucket[b]) == n {
			return byBucket[b]
		}
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

var (
	scratchSegs  [][]byte
	scratchSizes []int
)

// splitScratch returns output buffers for gso.Split, allocated once: room
// for 64 segments of the largest frame.
func splitScratch() ([][]byte, []int) {
	if scratchSegs == nil {
		backing := make([]byte, MaxSegments*(maxL2Len+MaxIPLen))
		for i := range MaxSegments {
			scratchSegs = append(scratchSegs, backing[i*(maxL2Len+MaxIPLen):(i+1)*(maxL2Len+MaxIPLen)])
		}
		scratchSizes = make([]int, MaxSegments)
	}
	return scratchSegs, scratchSizes
}

// checkVectored runs vc (a Coalescer with Config.Vectored) over a copy of
// the batch that produced want on a contiguous Coalescer, and checks that
// it gives the same output: the same grouping and headers, and every frame,
// put together from its headers and payload pieces, byte-identical to the
// contiguous one. Its input buffers must come out unmodified.
func checkVectored(t *testing.T, vc *Coalescer, bufs [][]byte, meta []Meta, want Output) {
	t.Helper()
	in := make([][]byte, len(bufs))
	orig := make([][]byte, len(bufs))
	for i, b := range bufs {
		in[i] = bytes.Clone(b)
		orig[i] = bytes.Clone(b)
	}
	got, err := vc.Coalesce(in, testOffset, meta)
	if err != nil {
		t.Fatalf("vectored: %v", err)
	}
	if fmt.Sprint(got.Index, got.Segs, got.Hdrs) != fmt.Sprint(want.Index, want.Segs, want.Hdrs) {
		t.Fatalf("vectored output %v %v %v\nwant %v %v %v", got.Index, got.Segs, got.Hdrs, want.Index, want.Segs, want.Hdrs)
	}
	if len(got.Payloads) != len(got.Frames) {
		t.Fatalf("vectored: %d payload lists for %d frames", len(got.Payloads), len(got.Frames))
	}
	for j := range got.Frames {
		if got.Segs[j] == 1 {
			if got.Payloads[j] != nil || &got.Frames[j][0] != &in[got.Index[j]][0] {
				t.Errorf("vectored output %d: untouched frame is not input %d", j, got.Index[j])
			}
			continue
		}
		if len(got.Payloads[j]) != got.Segs[j] {
			t.Errorf("vectored output %d: %d payload pieces for %d segments", j, len(got.Payloads[j]), got.Segs[j])
		}
		if a, b := got.AppendFrame(nil, j, testOffset), want.Frames[j][testOffset:]; !bytes.Equal(a, b) {
			t.Errorf("vectored output %d differs:\n got %x\nwant %x", j, a, b)
		}
	}
	for i := range in {
		if !bytes.Equal(in[i], orig[i]) {
			t.Fatalf("vectored: input %d modified", i)
		}
	}
}
