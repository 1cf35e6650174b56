package tap

import (
	"github.com/vtepd/vtep/gro"
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/sys"
)

// reader is a queue's Read state. Its fn is created once so that a Read
// does not allocate a closure.
type reader struct {
	q  *Queue
	fn func(fd uintptr) bool

	// Per-call arguments and results. metas is nil for Read, which
	// completes partial checksums; ReadMeta leaves them partial.
	bufs   [][]byte
	sizes  []int
	metas  []Meta
	offset int
	n      int
	err    error

	iov [2]sys.Iovec
	// scratch holds a super-frame (with its vnet header) until it is
	// segmented; pend is its length (0: none pending).
	scratch []byte
	pend    int
	// inplace is how much of a frame readv puts straight into the
	// caller's buffer; the rest goes to scratch. It covers the largest
	// plain frame seen (at least minInplace), so plain frames land in
	// place while only the first inplace bytes of a super-frame are
	// copied over to scratch before it is segmented, not the whole of the
	// caller's (typically 64 KiB) buffer.
	inplace int
	// segBufs hold segments of a super-frame bigger than a whole batch;
	// segNext is the next to copy out and segN how many there are.
	segBufs  [][]byte
	segSizes []int
	segN     int
	segNext  int
	// segPartial says segBufs hold partial checksums at segStart+segOff.
	segPartial       bool
	segStart, segOff uint16
}

// setMeta records frame i's checksum state for ReadMeta.
func (r *reader) setMeta(i int, partial bool, start, off int) {
	if r.metas == nil {
		return
	}
	r.metas[i] = Meta{}
	if partial {
		r.metas[i].ChecksumPartial = true
		r.metas[i].ChecksumStart, r.metas[i].ChecksumOffset = uint16(start), uint16(off)
	}
}

// minInplace is the initial reader.inplace: an Ethernet frame of the
// default MTU with two VLAN tags, rounded up.
const minInplace = 1536

func (r *reader) init(q *Queue) {
	r.q = q
	r.fn = r.readFn
	r.inplace = minInplace
	if q.vnet {
		r.scratch = make([]byte, vnetHdrLen+maxSuperFrame)
	}
}

// Read reads up to len(bufs) frames into bufs[i][offset:]. It blocks until
// at least one frame is available; then it takes what else is queued without
// blocking. With offloads, super-frames are segmented into MTU-sized frames
// (one per buffer) and partial checksums are completed, so callers always
// see ordinary Ethernet frames with valid checksums. After Close it returns
// an error wrapping net.ErrClosed.
func (q *Queue) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return q.read(bufs, sizes, nil, offset)
}

// ReadMeta is Read that also fills metas[i] for each frame read
// (tap.MetaDevice); len(metas) >= len(bufs). A TAP carries no marks or
// tunnel metadata. Unlike Read, ReadMeta leaves the TCP/UDP checksum of a
// frame the kernel handed over partial (CHECKSUM_PARTIAL, and every segment
// of a super-frame) as it is: the field holds the pseudo-header sum and
// metas[i] has ChecksumPartial with its start and offset, for the datapath
// to complete or to carry with VXLAN remote checksum offload.
func (q *Queue) ReadMeta(bufs [][]byte, sizes []int, metas []Meta, offset int) (int, error) {
	if metas != nil && len(metas) < len(bufs) {
		bufs = bufs[:len(metas)]
	}
	return q.read(bufs, sizes, metas, offset)
}

func (q *Queue) read(bufs [][]byte, sizes []int, metas []Meta, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if q.closed.Load() {
		return 0, closedErr
	}
	q.readMu.Lock()
	defer q.readMu.Unlock()
	r := &q.r
	r.bufs, r.sizes, r.metas, r.offset, r.n, r.err = bufs, sizes, metas, offset, 0, nil
	if r.pend > 0 || r.segN > 0 {
		r.emitPending()
		if r.n == len(bufs) {
			r.bufs, r.sizes, r.metas = nil, nil, nil
			q.stats.ReadFrames.Add(uint64(r.n))
			return r.n, nil
		}
	}
	err := q.rc.Read(r.fn)
	n := r.n
	if err == nil {
		err = r.err
	}
	r.bufs, r.sizes, r.metas = nil, nil, nil
	if err != nil && n == 0 {
		return 0, q.ioErr("read", err)
	}
	q.stats.ReadFrames.Add(uint64(n))
	return n, nil
}

// readFn runs under the poller. It returns false to wait for readability
// only when nothing has been read yet.
func (r *reader) readFn(fd uintptr) bool {
	for r.n < len(r.bufs) {
		if r.pend > 0 || r.segN > 0 {
			if r.emitPending(); r.pend > 0 || r.segN > 0 {
				return true
			}
			continue
		}
		var err error
		if r.q.vnet {
			err = r.readVnet(fd)
		} else {
			var n int
			n, err = sys.Read(fd, r.bufs[r.n][r.offset:])
			if err == nil {
				r.sizes[r.n] = n
				r.setMeta(r.n, false, 0, 0)
				r.n++
			}
		}
		if err != nil {
			if err == sys.EAGAIN {
				return r.n > 0
			}
			if err == sys.EINTR {
				continue
			}
			r.err = err
			return true
		}
	}
	return true
}

// readVnet reads one frame with its virtio_net_hdr. A plain frame lands in
// place: the header goes into the caller's headroom. A frame longer than
// the region (a super-frame) spills into scratch, where it is made
// contiguous (only the region's few bytes are copied over) and segmented.
func (r *reader) readVnet(fd uintptr) error {
	buf := r.bufs[r.n]
	region := r.region(buf)
	cnt := 1
	if region != nil {
		sys.SetIovec(&r.iov[0], region)
		if len(region) < len(r.scratch) {
			sys.SetIovec(&r.iov[1], r.scratch[len(region):])
			cnt = 2
		}
	} else {
		sys.SetIovec(&r.iov[0], r.scratch)
	}
	n, err := sys.Readv(fd, r.iov[:cnt])
	if err != nil {
		return err
	}
	r.deliver(buf, region, n)
	return nil
}

// region returns the part of the caller's buffer buf that readv fills
// first: the virtio_net_hdr in the headroom, then up to inplace bytes of
// frame. It is nil when there is no room for the header in front of the
// frame; then everything goes to scratch.
func (r *reader) region(buf []byte) []byte {
	if r.offset < vnetHdrLen || len(buf) <= r.offset {
		return nil
	}
	region := buf[r.offset-vnetHdrLen:]
	if r.metas != nil && r.q.whole.Load() {
		return region // super-frames may stay whole: read them in place
	}
	if len(region) > vnetHdrLen+r.inplace {
		region = region[:vnetHdrLen+r.inplace]
	}
	return region
}

// deliver handles n bytes that readv put into region (the caller's buffer
// buf from offset-vnetHdrLen) and, past its end, into scratch: a plain frame
// is finished in place, a super-frame is segmented.
func (r *reader) deliver(buf, region []byte, n int) {
	if n < vnetHdrLen {
		r.q.stats.ReadDropped.Add(1)
		return
	}
	var data []byte
	inPlace := region != nil && n <= len(region)
	if inPlace {
		data = region[:n]
	} else {
		if region != nil {
			copy(r.scratch, region)
		}
		data = r.scratch[:n]
	}
	h := header.VirtioNetHdr(data[:vnetHdrLen])
	frame := data[vnetHdrLen:]
	if h.GSOType() == header.VirtioNetHdrGSONone {
		partial := false
		if h.Flags()&header.VirtioNetHdrFlagNeedsCsum != 0 {
			// The kernel left a partial checksum (CHECKSUM_PARTIAL): the
			// pseudo-header sum sits in the field at csum_start+offset.
			cs, co := int(h.CsumStart()), int(h.CsumOffset())
			if cs > len(frame) || cs+co+2 > len(frame) {
				r.q.stats.ReadDropped.Add(1)
				return
			}
			if r.metas != nil {
				partial = true
			} else {
				gso.CompleteChecksum(frame, cs, co)
				r.q.stats.ReadChecksums.Add(1)
			}
		}
		if !inPlace {
			// The frame is in scratch: copy it out if it fits.
			if len(frame) > len(buf)-r.offset {
				r.q.stats.ReadDropped.Add(1)
				return
			}
			copy(buf[r.offset:], frame)
			if region != nil && len(frame) > r.inplace {
				// Plain frames this big are normal here (a large
				// MTU): let the next ones land in place.
				r.inplace = (len(frame) + 63) &^ 63
			}
		}
		r.sizes[r.n] = len(frame)
		r.setMeta(r.n, partial, int(h.CsumStart()), int(h.CsumOffset()))
		r.n++
		return
	}
	if r.metas != nil && r.q.whole.Load() && r.deliverWhole(buf, frame, inPlace, h.Fields()) {
		return
	}
	// A super-frame: segment it from scratch.
	if inPlace {
		copy(r.scratch, data)
	}
	r.q.stats.ReadSuperFrames.Add(1)
	r.pend = n
	r.emitPending()
}

// deliverWhole hands out the TCP super-frame frame (in buf at r.offset when
// inPlace, else in scratch) whole, as SetWholeSuperFrames asks. It reports
// false, to segment the frame instead, when it is not a TCP super-frame
// with a partial checksum inside it or does not fit buf.
func (r *reader) deliverWhole(buf, frame []byte, inPlace bool, h header.VirtioNetHdrFields) bool {
	gt := h.GSOType &^ header.VirtioNetHdrGSOECN
	if gt != header.VirtioNetHdrGSOTCPv4 && gt != header.VirtioNetHdrGSOTCPv6 {
		return false
	}
	cs, co := int(h.CsumStart), int(h.CsumOffset)
	if h.Flags&header.VirtioNetHdrFlagNeedsCsum == 0 || h.GSOSize == 0 || co != 16 ||
		cs+20 > len(frame) || len(frame) > len(buf)-r.offset {
		return false
	}
	if !inPlace {
		copy(buf[r.offset:], frame)
	}
	r.sizes[r.n] = len(frame)
	r.setMeta(r.n, true, cs, co)
	r.metas[r.n].GSOType = h.GSOType
	r.metas[r.n].GSOSize = h.GSOSize
	r.n++
	r.q.stats.ReadSuperFrames.Add(1)
	return true
}

// writer is a queue's Write state.
type writer struct {
	q  *Queue
	fn func(fd uintptr) bool
	// gro coalesces TCP (and, with USO, UDP) segments into super-frames;
	// nil without offloads. gmeta is its per-frame input.
	gro   *gro.Coalescer
	gmeta []gro.Meta

	// Per-call: frames to write; from GRO, their virtio headers, the input
	// index of each one's first frame and how many input frames each
	// carries (all nil: frame i is input i, one frame, zero header); and
	// the caller's per-frame metadata (nil: none).
	bufs   [][]byte
	hdrs   []header.VirtioNetHdrFields
	index  []int
	segs   []int
	metas  []Meta
	offset int
	i      int
	n      int // input frames written
	err    error
	iov    [2]sys.Iovec
	hdrBuf [vnetHdrLen]byte
	// pays are the payload pieces of each GRO super-frame (gro's
	// vectored output: bufs[i] holds only its headers), written after
	// them with one writev through viov.
	pays [][][]byte
	viov []sys.Iovec
	// A super-frame (Meta.GSOType) on a queue without a virtio_net_hdr
	// is split into segBufs and written one segment at a time: segN
	// segments, of which segNext is the next to write (0, 0: none split).
	segBufs       [][]byte
	segSizes      []int
	segN, segNext int
	segSize       int
}

func (w *writer) init(q *Queue) {
	w.q = q
	w.fn = w.writeFn
	if q.t.offloads&(OffloadTSO4|OffloadTSO6) != 0 {
		w.gro = gro.New(gro.Config{
			UDP:       q.t.offloads&(OffloadUSO4|OffloadUSO6) == OffloadUSO4|OffloadUSO6,
			Headroom:  Headroom,
			BatchSize: q.batch,
			// Super-frames go out with writev: headers, then the
			// segments' payloads where they lie, copied once, by the
			// kernel.
			Vectored: true,
		})
		w.gmeta = make([]gro.Meta, q.batch)
		w.viov = make([]sys.Iovec, 0, gro.MaxSegments+2)
	}
}

// Write writes the frames bufs[i][offset:] (one write(2) per frame or
// super-frame). With offloads the batch first goes through GRO: runs of
// TCP segments (and UDP datagrams with USO) of one flow are written as one
// super-frame with a NEEDS_CSUM virtio_net_hdr; other frames get a zeroed
// header, written into their headroom. Every frame's TCP/UDP checksum is
// verified before it is merged. Frames the kernel refuses are counted in
// Stats.WriteErrors and skipped. Write returns the number of frames
// written, and an error only when the queue is closed or fails as a whole.
func (q *Queue) Write(bufs [][]byte, offset int) (int, error) {
	return q.WriteMeta(bufs, nil, offset)
}

// WriteMeta is Write with per-frame metadata (tap.MetaDevice). A frame
// with ChecksumPartial is handed to the kernel as CHECKSUM_PARTIAL (a
// NEEDS_CSUM virtio_net_hdr with its csum_start/offset), which the kernel
// completes only if the frame leaves the host; on a TAP without offloads
// its checksum is completed in place first. Frames of different tunnel
// VNIs (external mode) never merge in GRO; partial-checksum frames, whose
// integrity the outer UDP checksum vouched for (remote checksum offload
// needs one), merge without a checksum check. metas may be nil; otherwise
// len(metas) >= len(bufs).
func (q *Queue) WriteMeta(bufs [][]byte, metas []Meta, offset int) (int, error) {
	if q.closed.Load() {
		return 0, closedErr
	}
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	w := &q.w
	w.bufs, w.hdrs, w.index, w.segs, w.metas, w.offset = bufs, nil, nil, nil, metas, offset
	if w.gro != nil && len(bufs) > 1 {
		var gm []gro.Meta
		if metas != nil {
			if len(w.gmeta) < len(bufs) {
				w.gmeta = make([]gro.Meta, len(bufs))
			}
			gm = w.gmeta[:len(bufs)]
			for i := range gm {
				m := &metas[i]
				gm[i] = gro.Meta{Verified: m.ChecksumPartial, Whole: m.GSOType != 0}
				if m.Tunnel.Valid {
					gm[i].Context = uint32(m.Tunnel.VNI)
				}
			}
		}
		if out, err := w.gro.Coalesce(bufs, offset, gm); err == nil {
			w.bufs, w.hdrs, w.index, w.segs, w.pays = out.Frames, out.Hdrs, out.Index, out.Segs, out.Payloads
			for _, s := range out.Segs {
				if s > 1 {
					q.stats.WriteSuperFrames.Add(1)
					q.stats.WriteSegments.Add(uint64(s))
				}
			}
		}
	}
	w.i, w.n, w.err = 0, 0, nil
	err := q.rc.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.bufs, w.hdrs, w.index, w.segs, w.metas, w.pays = nil, nil, nil, nil, nil, nil
	q.stats.WriteFrames.Add(uint64(n))
	if err != nil {
		return n, q.ioErr("write", err)
	}
	return n, nil
}

// GROStats returns the GRO engine's counters (zero without offloads).
func (q *Queue) GROStats() gro.Stats {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	if q.w.gro == nil {
		return gro.Stats{}
	}
	return q.w.gro.Stats()
}

// header returns the virtio_net_hdr for output frame i.
func (w *writer) header(i int, frame []byte) (h header.VirtioNetHdrFields, ok bool) {
	if w.hdrs != nil {
		h = w.hdrs[i]
	}
	m := w.meta(i)
	if m == nil || !m.ChecksumPartial {
		return h, true
	}
	if !w.q.vnet {
		return h, gso.CompleteChecksum(frame, int(m.ChecksumStart), int(m.ChecksumOffset)) == nil
	}
	h.Flags = header.VirtioNetHdrFlagNeedsCsum
	h.CsumStart, h.CsumOffset = m.ChecksumStart, m.ChecksumOffset
	if m.GSOType != 0 {
		th := int(m.ChecksumStart)
		if th+header.TCPMinimumSize > len(frame) || m.GSOSize == 0 {
			return h, false
		}
		h.GSOType, h.GSOSize = m.GSOType, m.GSOSize
		h.HdrLen = uint16(th + int(frame[th+12]>>4)*4)
	}
	return h, true
}

// writeVectored writes a GRO super-frame whose headers are buf[w.offset:]
// and whose payload is w.pays[w.i], with one writev.
func (w *writer) writeVectored(fd uintptr, buf []byte, h *header.VirtioNetHdrFields) error {
	v := w.viov[:1]
	if w.offset >= vnetHdrLen {
		b := buf[w.offset-vnetHdrLen:]
		header.VirtioNetHdr(b[:vnetHdrLen]).Encode(h)
		sys.SetIovec(&v[0], b)
	} else {
		header.VirtioNetHdr(w.hdrBuf[:]).Encode(h)
		sys.SetIovec(&v[0], w.hdrBuf[:])
		v = append(v, sys.Iovec{})
		sys.SetIovec(&v[1], buf[w.offset:])
	}
	for _, p := range w.pays[w.i] {
		v = append(v, sys.Iovec{})
		sys.SetIovec(&v[len(v)-1], p)
	}
	_, err := sys.Writev(fd, v)
	clear(v) // drop the pointers into the caller's buffers
	return err
}

// meta returns the caller's metadata for output frame i: that of its
// first input frame, or nil when there is none or GRO built the frame (its
// header is GRO's).
func (w *writer) meta(i int) *Meta {
	if w.metas == nil || (w.hdrs != nil && w.hdrs[i].Flags != 0) {
		return nil
	}
	if w.index != nil {
		i = w.index[i]
	}
	return &w.metas[i]
}

// wholeMeta returns the metadata of output frame i when it is a whole
// super-frame (Meta.GSOType), else nil.
func (w *writer) wholeMeta(i int) *Meta {
	if m := w.meta(i); m != nil && m.GSOType != 0 && m.ChecksumPartial {
		return m
	}
	return nil
}

// writeSegments writes the super-frame frame described by m, on a queue
// without a virtio_net_hdr, as its segments with complete checksums (what
// the kernel's software GSO would send on). After EAGAIN or EINTR a new
// call goes on with the segment that was not written.
func (w *writer) writeSegments(fd uintptr, frame []byte, m *Meta) error {
	if w.segN == 0 {
		h := header.VirtioNetHdrFields{Flags: header.VirtioNetHdrFlagNeedsCsum, GSOType: m.GSOType, GSOSize: m.GSOSize,
			CsumStart: m.ChecksumStart, CsumOffset: m.ChecksumOffset}
		lay, err := gso.Parse(frame, h)
		if err != nil {
			return sys.EINVAL
		}
		w.growSegments(lay.Segments, lay.SegmentLen)
		n, err := gso.Split(w.segBufs, w.segSizes, 0, frame, h, 0)
		if err != nil {
			return sys.EINVAL
		}
		w.segN, w.segNext = n, 0
	}
	for w.segNext < w.segN {
		_, err := sys.Write(fd, w.segBufs[w.segNext][:w.segSizes[w.segNext]])
		if err == sys.EAGAIN || err == sys.EINTR {
			return err
		}
		if err != nil {
			w.segN = 0
			return err
		}
		w.segNext++
	}
	w.segN = 0
	return nil
}

// growSegments makes segBufs n buffers of at least size bytes each,
// reusing what an earlier super-frame left when it is enough.
func (w *writer) growSegments(n, size int) {
	if cap(w.segBufs) < n || w.segSize < size {
		size = max(size, w.segSize)
		n = max(n, cap(w.segBufs))
		backing := make([]byte, n*size)
		w.segBufs, w.segSizes, w.segSize = make([][]byte, n), make([]int, n), size
		for k := range w.segBufs {
			w.segBufs[k] = backing[k*size : (k+1)*size : (k+1)*size]
		}
	}
	w.segBufs, w.segSizes = w.segBufs[:n], w.segSizes[:n]
}

func (w *writer) writeFn(fd uintptr) bool {
	for w.i < len(w.bufs) {
		buf := w.bufs[w.i]
		segs := 1
		if w.segs != nil {
			segs = w.segs[w.i]
		}
		var h header.VirtioNetHdrFields
		ok := true
		whole := w.wholeMeta(w.i)
		if whole == nil || w.q.vnet {
			h, ok = w.header(w.i, buf[w.offset:])
		}
		var err error
		switch {
		case !ok:
			err = sys.EINVAL
		case whole != nil && !w.q.vnet:
			err = w.writeSegments(fd, buf[w.offset:], whole)
		case w.pays != nil && w.pays[w.i] != nil:
			err = w.writeVectored(fd, buf, &h)
		case !w.q.vnet:
			_, err = sys.Write(fd, buf[w.offset:])
		case w.offset >= vnetHdrLen:
			b := buf[w.offset-vnetHdrLen:]
			header.VirtioNetHdr(b[:vnetHdrLen]).Encode(&h)
			_, err = sys.Write(fd, b)
		default:
			header.VirtioNetHdr(w.hdrBuf[:]).Encode(&h)
			sys.SetIovec(&w.iov[0], w.hdrBuf[:])
			sys.SetIovec(&w.iov[1], buf[w.offset:])
			_, err = sys.Writev(fd, w.iov[:])
		}
		switch err {
		case nil:
			w.n += segs
		case sys.EAGAIN:
			return false
		case sys.EINTR:
			continue
		case sys.EINVAL, sys.EIO, sys.EMSGSIZE:
			w.q.stats.WriteErrors.Add(uint64(segs))
		default:
			w.err = err
			return true
		}
		w.i++
	}
	return true
}
