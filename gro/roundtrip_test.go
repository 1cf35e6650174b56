package gro

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/gso/gsotest"
)

// TestSplitThenCoalesceGivesBackTheSuperFrame is the round-trip property:
// a TSO/USO super-frame as the kernel hands it to a TAP reader, segmented
// by gso and coalesced again by gro, comes back byte-identical with the
// same virtio_net_hdr. The fields gro writes are exactly those the kernel's
// TSO frame has: IPv4 total length, header checksum and the first
// segment's ID; IPv6 payload length; UDP length; the folded pseudo-header
// sum in the L4 checksum field; PSH/FIN of the last segment; CWR of the
// first (ECN in gso_type); hdr_len recomputed from the headers (a kernel
// frame with a bogus hdr_len would differ there only).
func TestSplitThenCoalesceGivesBackTheSuperFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := New(Config{UDP: true})
	segs := make([][]byte, MaxSegments)
	for i := range segs {
		segs[i] = make([]byte, testOffset+1600)
	}
	sizes := make([]int, MaxSegments)
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	total := 0
	for it := range iters {
		f := gsotest.Frame{
			IPv6: r.IntN(2) == 0, UDP: r.IntN(3) == 0, DF: r.IntN(2) == 0, ID: uint16(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), TOS: uint8(r.IntN(4)) << 2, TTL: uint8(1 + r.IntN(255)),
			FlowLabel: r.Uint32() & 0xfffff, Window: uint16(1 + r.IntN(65535)),
		}
		for range r.IntN(3) {
			f.VLANs = append(f.VLANs, []uint32{0x8100, 0x88a8}[r.IntN(2)]<<16|uint32(r.IntN(4096)))
		}
		if !f.UDP {
			if r.IntN(2) == 0 {
				f.TCPOptions = tsOpt
			}
			f.Flags = gsotest.ACK
			if r.IntN(3) == 0 {
				f.Flags |= gsotest.PSH
			}
			if r.IntN(8) == 0 {
				f.Flags |= gsotest.FIN
			}
			if r.IntN(8) == 0 {
				f.Flags |= gsotest.CWR | gsotest.ECE
			}
		}
		hdrs := f.L3Len() + f.L4Len()
		mss := 1 + r.IntN(1500-hdrs)
		maxPayload := min(MaxIPLen-hdrs, MaxSegments*mss)
		payload := mss + 1 + r.IntN(maxPayload-mss)
		f.Payload = gsotest.Payload(payload, byte(it))
		super := f.PartialFrame()
		h := f.TSOHdr(mss)

		n, err := gso.Split(segs, sizes, testOffset, super, h, 0)
		if err != nil {
			t.Fatalf("iteration %d: split: %v", it, err)
		}
		in := make([][]byte, n)
		for i := range n {
			in[i] = segs[i][:testOffset+sizes[i]]
		}
		out, err := c.Coalesce(in, testOffset, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Frames) != 1 || out.Segs[0] != n {
			t.Fatalf("iteration %d: %d segments (mss %d, payload %d) came back as %d frames %v", it, n, mss, payload, len(out.Frames), out.Segs)
		}
		if got := out.Frames[0][testOffset:]; !bytes.Equal(got, super) {
			t.Fatalf("iteration %d: super-frame differs\n got %x\nwant %x", it, got[:min(len(got), 90)], super[:90])
		}
		total += n
		if out.Hdrs[0] != h {
			t.Fatalf("iteration %d: header %+v, want %+v", it, out.Hdrs[0], h)
		}
	}
	t.Logf("%d super-frames of %d segments in all", iters, total)
}
