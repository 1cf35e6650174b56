package gso_test

import (
	"bytes"
	"testing"

	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
)

const canary = 0xee

// fuzzCanary is the pattern every output buffer starts filled with; it
// covers the largest backing array FuzzSplit uses (80 buffers of at most
// 64+4095+16 bytes), which is reused across runs.
var (
	fuzzCanary  = bytes.Repeat([]byte{canary}, 80*(64+4096+16))
	fuzzBacking = make([]byte, len(fuzzCanary))
)

// FuzzSplit feeds arbitrary frames and virtio headers to Split and checks
// that it never panics, never writes outside out[i][offset:offset+sizes[i]]
// (headroom and bytes past len are canaries), never modifies its input, and
// that on success the segments account for every payload byte.
func FuzzSplit(f *testing.F) {
	add := func(fr gsotest.Frame, mss int, nOut, size int) {
		h := fr.TSOHdr(mss)
		f.Add(fr.PartialFrame(), h.Flags, h.GSOType, h.HdrLen, h.GSOSize, h.CsumStart, h.CsumOffset, uint8(nOut), uint16(size), uint8(16))
	}
	add(gsotest.Frame{Payload: gsotest.Payload(5000, 1)}, 1000, 8, 1100)
	add(gsotest.Frame{IPv6: true, TCPOptions: tsOption, Payload: gsotest.Payload(3001, 1)}, 1000, 4, 1200)
	add(gsotest.Frame{UDP: true, VLANs: []uint32{0x8100_0001}, Payload: gsotest.Payload(2500, 1)}, 500, 5, 600)
	add(gsotest.Frame{UDP: true, IPv6: true, Payload: gsotest.Payload(100, 1)}, 30, 2, 100)
	add(gsotest.Frame{Flags: gsotest.ACK | gsotest.FIN | gsotest.CWR, Payload: gsotest.Payload(1000, 1)}, 100, 10, 200)
	f.Add(gsotest.Frame{Payload: []byte("x")}.PartialFrame(), uint8(1), uint8(0), uint16(0), uint16(0), uint16(34), uint16(16), uint8(1), uint16(100), uint8(0))

	f.Fuzz(func(t *testing.T, in []byte, flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOffset uint16, nOut uint8, size uint16, off uint8) {
		h := header.VirtioNetHdrFields{Flags: flags, GSOType: gsoType, HdrLen: hdrLen, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: csumOffset}
		nb := int(nOut) % 80
		sz := int(size) % 4096
		o := int(off) % 64
		const slack = 16
		backing := fuzzBacking[:nb*(o+sz+slack)]
		copy(backing, fuzzCanary)
		out := make([][]byte, nb)
		for i := range out {
			base := i * (o + sz + slack)
			out[i] = backing[base : base+o+sz : base+o+sz]
		}
		sizes := make([]int, nb)
		orig := bytes.Clone(in)
		l, perr := gso.Parse(in, h)
		n, err := gso.Split(out, sizes, o, in, h, gso.Flags(flags>>4)&gso.PartialChecksum)
		if !bytes.Equal(in, orig) {
			t.Fatal("input modified")
		}
		if perr != nil && err == nil {
			t.Fatalf("Parse failed (%v) but Split succeeded", perr)
		}
		written := make([]int, nb)
		if err == nil {
			if n < 1 || n > nb || n != l.Segments {
				t.Fatalf("n = %d with %d buffers, layout %+v", n, nb, l)
			}
			payload := 0
			for i := range n {
				if sizes[i] > sz || sizes[i] < l.HdrLen && l.Protocol != 0 {
					t.Fatalf("sizes[%d] = %d, buffer %d, hdrLen %d", i, sizes[i], sz, l.HdrLen)
				}
				if i < n-1 && sizes[i] != l.SegmentLen || i == n-1 && sizes[i] != l.LastLen {
					t.Fatalf("sizes[%d] = %d, layout %+v", i, sizes[i], l)
				}
				payload += sizes[i] - l.HdrLen
				written[i] = sizes[i]
			}
			if l.Protocol != 0 && payload != len(in)-l.HdrLen {
				t.Fatalf("segments carry %d payload bytes, frame has %d", payload, len(in)-l.HdrLen)
			}
		} else if n != 0 {
			t.Fatalf("n = %d with error %v", n, err)
		}
		for i := range nb {
			base := i * (o + sz + slack)
			region := backing[base : base+o+sz+slack]
			if !bytes.Equal(region[:o], fuzzCanary[:o]) || !bytes.Equal(region[o+written[i]:], fuzzCanary[:len(region)-o-written[i]]) {
				t.Fatalf("buffer %d written outside the segment (size %d, offset %d)", i, written[i], o)
			}
		}
	})
}
