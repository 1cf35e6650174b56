package tap

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vtepd/vtep/header"
)

// offlineQueue is a Queue without an fd, for the read path's pure part.
func offlineQueue(batch int) *Queue {
	t := &Linux{name: "fuzz0", offloads: OffloadCSUM | OffloadTSO4 | OffloadTSO6 | OffloadUSO4 | OffloadUSO6}
	q := &Queue{t: t, vnet: true, batch: batch}
	q.r.init(q)
	return q
}

// readFromBytes plays readv: it spreads data (virtio header + frame) over
// the region of bufs[r.n] and scratch, then delivers it, and keeps emitting
// pending segments over further "Reads" as Queue.Read does.
func readFromBytes(q *Queue, data []byte, bufs [][]byte, sizes []int, metas []Meta, offset int) (frames [][]byte) {
	r := &q.r
	r.bufs, r.sizes, r.metas, r.offset, r.n = bufs, sizes, metas, offset, 0
	buf := bufs[0]
	region := r.region(buf)
	k := copy(region, data)
	copy(r.scratch[k:], data[k:])
	r.deliver(buf, region, min(len(data), len(r.scratch)))
	for round := 0; ; round++ {
		for i := range r.n {
			if sizes[i] < 0 || offset+sizes[i] > len(bufs[i]) {
				panic("size beyond buffer")
			}
			if metas != nil && metas[i].ChecksumPartial &&
				int(metas[i].ChecksumStart)+int(metas[i].ChecksumOffset)+2 > sizes[i] {
				panic("partial checksum outside the frame")
			}
			frames = append(frames, append([]byte(nil), bufs[i][offset:offset+sizes[i]]...))
		}
		if r.pend == 0 && r.segN == 0 {
			return frames
		}
		if round > 70000 {
			panic("pending segments never drain")
		}
		r.n = 0
		r.emitPending()
	}
}

// TestDeliverSegmentsAcrossReads checks that a super-frame with more
// segments than the caller's batch is handed out completely and in order
// over several Reads.
func TestDeliverSegmentsAcrossReads(t *testing.T) {
	for _, mss := range []int{100, 1448} {
		frame := tcpSuperFrame(10, mss)
		// 1600-byte buffers, and 64 KiB ones (the datapath's) that could
		// hold the whole super-frame: it is split all the same.
		for _, size := range []int{1600, 65535} {
			for _, batch := range []int{1, 3, 10, 64} {
				q := offlineQueue(batch)
				bufs, sizes := newBufs(batch, size)
				frames := readFromBytes(q, frame, bufs, sizes, nil, Headroom)
				if len(frames) != 10 {
					t.Fatalf("mss %d size %d batch %d: %d frames, want 10", mss, size, batch, len(frames))
				}
				for i, f := range frames {
					seq := binary.BigEndian.Uint32(f[14+20+4:])
					if seq != uint32(1000+i*mss) || len(f) != 14+20+20+mss || !validIPv4Checksums(f) {
						t.Errorf("mss %d size %d batch %d: segment %d: seq %d len %d checksums ok %v",
							mss, size, batch, i, seq, len(f), validIPv4Checksums(f))
					}
				}
			}
		}
	}
}

// TestDeliverLargePlainFrames: a plain frame longer than the part of the
// caller's buffer readv fills first spills into scratch and is copied back
// whole; the reader then grows that part so that the next such frame lands
// in place. A super-frame read afterwards still splits.
func TestDeliverLargePlainFrames(t *testing.T) {
	q := offlineQueue(8)
	bufs, sizes := newBufs(8, 65535)
	plain := make([]byte, vnetHdrLen+9014)
	for i := range plain[vnetHdrLen:] {
		plain[vnetHdrLen+i] = byte(i * 7)
	}
	for round := range 2 {
		frames := readFromBytes(q, plain, bufs, sizes, nil, Headroom)
		if len(frames) != 1 || !bytes.Equal(frames[0], plain[vnetHdrLen:]) {
			t.Fatalf("round %d: got %d frames, want the 9014-byte frame", round, len(frames))
		}
		if q.r.inplace < 9014 {
			t.Errorf("round %d: in-place part %d bytes, want at least 9014", round, q.r.inplace)
		}
	}
	if frames := readFromBytes(q, tcpSuperFrame(10, 1448), bufs, sizes, nil, Headroom); len(frames) != 10 {
		t.Errorf("super-frame after large frames: %d segments, want 10", len(frames))
	}
	if st := q.Stats(); st.ReadDropped != 0 {
		t.Errorf("ReadDropped = %d", st.ReadDropped)
	}
}

// tcpSuperFrame builds a virtio header + Ethernet/IPv4/TCP super-frame of
// n segments of mss bytes, checksum partial as the kernel hands it over.
func tcpSuperFrame(n, mss int) []byte {
	payload := n * mss
	b := make([]byte, vnetHdrLen+14+20+20+payload)
	header.VirtioNetHdr(b[:vnetHdrLen]).Encode(&header.VirtioNetHdrFields{
		Flags: header.VirtioNetHdrFlagNeedsCsum, GSOType: header.VirtioNetHdrGSOTCPv4,
		HdrLen: 54, GSOSize: uint16(mss), CsumStart: 34, CsumOffset: 16})
	f := b[vnetHdrLen:]
	f[12], f[13] = 8, 0
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12], tcp[13] = 5<<4, 0x18
	for i := range payload {
		tcp[20+i] = byte(i)
	}
	ps := pseudo4(ip[12:16], ip[16:20], 6, 20+payload)
	for ps > 0xffff {
		ps = ps>>16 + ps&0xffff
	}
	binary.BigEndian.PutUint16(tcp[16:], uint16(ps))
	return b
}

// FuzzDeliver feeds arbitrary virtio headers and frames to the read path
// (as readv would place them): it must never panic or report a frame beyond
// its buffer, and must always drain.
func FuzzDeliver(f *testing.F) {
	f.Add(tcpSuperFrame(3, 100), uint8(2), uint16(1600), false)
	f.Add(tcpSuperFrame(1, 1), uint8(64), uint16(80), true)
	plain := make([]byte, vnetHdrLen+60)
	plain[0] = header.VirtioNetHdrFlagNeedsCsum
	plain[6] = 20
	plain[8] = 6
	f.Add(plain, uint8(8), uint16(100), true)
	f.Add(tcpSuperFrame(45, 1448), uint8(64), uint16(65535), true)
	big := make([]byte, vnetHdrLen+3000)
	big[vnetHdrLen+12], big[vnetHdrLen+13] = 0x88, 0xb5
	f.Add(big, uint8(4), uint16(65535), false)
	f.Fuzz(func(t *testing.T, data []byte, batch uint8, size uint16, withMeta bool) {
		if batch == 0 || len(data) > 65535+vnetHdrLen {
			return
		}
		q := offlineQueue(int(batch))
		bufs, sizes := newBufs(int(batch), int(size))
		var metas []Meta
		if withMeta {
			metas = make([]Meta, batch)
		}
		readFromBytes(q, data, bufs, sizes, metas, Headroom)
	})
}

// BenchmarkDeliverSuperFrame hands a 64 KiB TSO super-frame (45 segments
// of 1448 bytes) to the read path as readv would place it in a datapath
// buffer of 64 KiB plus Headroom, and splits it into 45 frames.
func BenchmarkDeliverSuperFrame(b *testing.B) {
	frame := tcpSuperFrame(45, 1448)
	q := offlineQueue(64)
	bufs, sizes := newBufs(64, 65535)
	metas := make([]Meta, 64)
	r := &q.r
	b.SetBytes(int64(len(frame) - vnetHdrLen))
	b.ReportAllocs()
	for b.Loop() {
		r.bufs, r.sizes, r.metas, r.offset, r.n = bufs, sizes, metas, Headroom, 0
		region := r.region(bufs[0])
		k := copy(region, frame)
		copy(r.scratch[k:], frame[k:])
		r.deliver(bufs[0], region, len(frame))
		if r.n != 45 {
			b.Fatalf("%d frames, want 45", r.n)
		}
	}
}
