// Package tap is the overlay side of a vtep link: a batch interface for
// reading and writing Ethernet frames, with a Linux TAP implementation and an
// in-memory one for tests.
package tap

// Headroom is the number of bytes every datapath buffer reserves in front of
// a frame (the offset argument of Read and Write), so that encapsulation can
// prepend an outer IPv6 + UDP + VXLAN header (40+8+8 = 56 bytes) and a
// virtio_net_hdr (12 bytes) in place. It is rounded up for alignment.
const Headroom = 128

// Device reads and writes Ethernet frames (no FCS) in batches.
//
// Ownership: bufs belong to the caller. Read writes frames into bufs[i][offset:]
// and may not keep bufs after it returns; Write reads bufs[i][offset:] and may
// modify the bytes in front of offset (headroom) but not keep them.
type Device interface {
	// Read reads up to len(bufs) frames. It blocks until at least one frame
	// is available and returns the number read; sizes[i] is the length of
	// frame i, which starts at bufs[i][offset]. After Close it returns an
	// error wrapping net.ErrClosed.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes the frames bufs[i][offset:] and returns how many were written.
	Write(bufs [][]byte, offset int) (n int, err error)
	// BatchSize is the preferred number of buffers to pass to Read.
	BatchSize() int
	// Close releases the device; blocked Reads return.
	Close() error
}
