package tap

import (
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/header"
)

// segmenterAvailable and usoSegmenterAvailable say whether TSO and USO may
// be offered in TUNSETOFFLOAD: package gso splits both.
const (
	segmenterAvailable    = true
	usoSegmenterAvailable = true
)

// maxInternalSegments bounds the segments of one super-frame split into
// internal buffers when the caller's batch is too small for it.
const maxInternalSegments = 1024

// emitPending hands out the pending super-frame: split straight into the
// caller's remaining buffers when they are enough, else left for the next
// Read; when even a whole batch is too small, split into internal buffers
// and copied out over several Reads.
func (r *reader) emitPending() {
	if r.segN > 0 {
		r.copySegments()
		return
	}
	data := r.scratch[:r.pend]
	h := header.VirtioNetHdr(data[:vnetHdrLen]).Fields()
	frame := data[vnetHdrLen:]
	lay, err := gso.Parse(frame, h)
	if err != nil {
		r.q.stats.ReadDropped.Add(1)
		r.pend = 0
		return
	}
	var flags gso.Flags
	if r.metas != nil {
		flags = gso.PartialChecksum
	}
	// Which output is partial: every segment of a real split; a frame gso
	// passes through (GSO_NONE with only the ECN bit) only with NEEDS_CSUM.
	partial := r.metas != nil && (lay.Protocol != 0 || h.Flags&header.VirtioNetHdrFlagNeedsCsum != 0)
	room := len(r.bufs) - r.n
	if lay.Segments <= room {
		n, err := gso.Split(r.bufs[r.n:], r.sizes[r.n:], r.offset, frame, h, flags)
		r.pend = 0
		if err != nil {
			r.q.stats.ReadDropped.Add(1)
			return
		}
		for k := range n {
			r.setMeta(r.n+k, partial, lay.CsumStart, lay.CsumOffset)
		}
		r.n += n
		r.q.stats.ReadSegments.Add(uint64(n))
		return
	}
	if r.n > 0 {
		return // the next Read starts with it
	}
	// Fewer buffers than segments: split into our own buffers (bounded:
	// a real TSO burst of 64 KiB has at most a few hundred segments).
	if lay.Segments > maxInternalSegments {
		r.q.stats.ReadDropped.Add(1)
		r.pend = 0
		return
	}
	if len(r.segBufs) < lay.Segments || (len(r.segBufs) > 0 && len(r.segBufs[0]) < lay.SegmentLen) {
		size := max(lay.SegmentLen, 1600)
		if len(r.segBufs) > 0 {
			size = max(size, len(r.segBufs[0]))
		}
		r.segBufs = make([][]byte, max(lay.Segments, len(r.segBufs)))
		for i := range r.segBufs {
			r.segBufs[i] = make([]byte, size)
		}
		r.segSizes = make([]int, len(r.segBufs))
	}
	n, err := gso.Split(r.segBufs, r.segSizes, 0, frame, h, flags)
	r.pend = 0
	if err != nil {
		r.q.stats.ReadDropped.Add(1)
		return
	}
	r.segN, r.segNext = n, 0
	r.segPartial = partial
	r.segStart, r.segOff = uint16(lay.CsumStart), uint16(lay.CsumOffset)
	r.q.stats.ReadSegments.Add(uint64(n))
	r.copySegments()
}

// copySegments copies internally split segments to the caller's buffers.
func (r *reader) copySegments() {
	for r.segNext < r.segN && r.n < len(r.bufs) {
		seg := r.segBufs[r.segNext][:r.segSizes[r.segNext]]
		r.segNext++
		if len(seg) > len(r.bufs[r.n])-r.offset {
			r.q.stats.ReadDropped.Add(1)
			continue
		}
		r.sizes[r.n] = copy(r.bufs[r.n][r.offset:], seg)
		if r.segPartial && r.metas == nil {
			// Split for a ReadMeta, handed out by a Read: finish it.
			gso.CompleteChecksum(r.bufs[r.n][r.offset:r.offset+len(seg)], int(r.segStart), int(r.segOff))
		}
		r.setMeta(r.n, r.segPartial && r.metas != nil, int(r.segStart), int(r.segOff))
		r.n++
	}
	if r.segNext >= r.segN {
		r.segN, r.segNext = 0, 0
	}
}
