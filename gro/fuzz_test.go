package gro

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
)

// encodeBatch packs frames as 2-byte big-endian length + bytes, the input
// format of FuzzCoalesce.
func encodeBatch(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeBatch(data []byte) [][]byte {
	var frames [][]byte
	for len(data) >= 2 && len(frames) < 256 {
		n := int(binary.BigEndian.Uint16(data)) % 4096
		data = data[2:]
		n = min(n, len(data))
		frames = append(frames, data[:n])
		data = data[n:]
	}
	return frames
}

// FuzzCoalesce checks the engine's invariants on arbitrary batches: no
// panic; output indices in range, strictly increasing (order kept) and
// covering every input exactly once; an untouched frame is the input buffer
// with a zero header; a super-frame's header is one the kernel accepts and
// gso splits it into exactly as many segments as it claims; inputs are not
// modified.
func FuzzCoalesce(f *testing.F) {
	g := newGen(gsotest.Frame{TCPOptions: tsOpt})
	h := newGen(gsotest.Frame{IPv6: true, SrcPort: 7, VLANs: []uint32{0x8100_0001}})
	u := newGen(gsotest.Frame{UDP: true})
	f.Add(encodeBatch([][]byte{g.seg(1000), g.seg(1000), g.seg(1000), g.seg(500)}), false, false, uint8(0))
	f.Add(encodeBatch([][]byte{g.seg(100), h.seg(100), g.seg(100), h.seg(100), g.seg(100, withFlags(gsotest.ACK|gsotest.PSH)), h.seg(0)}), false, true, uint8(0))
	f.Add(encodeBatch([][]byte{u.seg(300), u.seg(300), u.seg(100), g.seg(10), g.seg(10)}), true, false, uint8(0x0a))
	f.Add(encodeBatch([][]byte{g.seg(10, withFlags(gsotest.ACK|gsotest.CWR)), g.seg(10), g.seg(10, badCsum), g.seg(10, withTTL(3))}), true, true, uint8(0))

	c := [2]*Coalescer{New(Config{}), New(Config{UDP: true})}
	vc := [2]*Coalescer{New(Config{Vectored: true}), New(Config{UDP: true, Vectored: true})}
	f.Fuzz(func(t *testing.T, data []byte, udp, verified bool, ctxBits uint8) {
		frames := decodeBatch(data)
		bufs := bufsOf(frames)
		orig := make([][]byte, len(bufs))
		meta := make([]Meta, len(bufs))
		for i := range bufs {
			orig[i] = bytes.Clone(bufs[i])
			meta[i] = Meta{Context: uint32(ctxBits>>(i%8)) & 1, Verified: verified}
		}
		co, cv := c[0], vc[0]
		if udp {
			co, cv = c[1], vc[1]
		}
		out, err := co.Coalesce(bufs, testOffset, meta)
		if err != nil {
			t.Fatal(err)
		}
		checkVectored(t, cv, bufs, meta, out)
		n := len(out.Frames)
		if len(out.Hdrs) != n || len(out.Index) != n || len(out.Segs) != n {
			t.Fatalf("output slices differ in length")
		}
		total := 0
		for j := range n {
			if out.Index[j] < 0 || out.Index[j] >= len(bufs) || (j > 0 && out.Index[j] <= out.Index[j-1]) {
				t.Fatalf("output %d: index %d out of range or order (%v)", j, out.Index[j], out.Index)
			}
			total += out.Segs[j]
			if out.Segs[j] == 1 {
				b := bufs[out.Index[j]]
				if len(out.Frames[j]) != len(b) || &out.Frames[j][0] != &b[0] || out.Hdrs[j] != (header.VirtioNetHdrFields{}) {
					t.Fatalf("output %d: untouched frame is not input %d", j, out.Index[j])
				}
				continue
			}
			if out.Segs[j] < 2 || out.Segs[j] > MaxSegments {
				t.Fatalf("output %d: %d segments", j, out.Segs[j])
			}
			fr := out.Frames[j][testOffset:]
			hd := out.Hdrs[j]
			if hd.Flags != header.VirtioNetHdrFlagNeedsCsum || hd.GSOSize == 0 || int(hd.HdrLen) >= len(fr) {
				t.Fatalf("output %d: header %+v for %d bytes", j, hd, len(fr))
			}
			l, err := gso.Parse(fr, hd)
			if err != nil {
				t.Fatalf("output %d: gso rejects the super-frame: %v (hdr %+v)", j, err, hd)
			}
			if l.Segments != out.Segs[j] || l.HdrLen != int(hd.HdrLen) || len(fr)-l.L2Len > MaxIPLen {
				t.Fatalf("output %d: %d segments, layout %+v, hdr %+v", j, out.Segs[j], l, hd)
			}
			segs, sizes := splitScratch()
			if k, err := gso.Split(segs, sizes, 0, fr, hd, 0); err != nil || k != out.Segs[j] {
				t.Fatalf("output %d: split into %d (%v)", j, k, err)
			}
		}
		if total != len(bufs) {
			t.Fatalf("outputs cover %d frames, input has %d", total, len(bufs))
		}
		for i := range bufs {
			if !bytes.Equal(bufs[i], orig[i]) {
				t.Fatalf("input %d modified", i)
			}
		}
	})
}
