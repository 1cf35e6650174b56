package tap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtep/header"
)

// Meta is per-frame information that travels with a frame between an
// overlay port and the datapath but is not part of the frame's bytes: what
// the kernel keeps in the sk_buff next to the data. Ports that can carry it
// implement MetaDevice; a Linux TAP cannot carry marks or tunnel metadata,
// and its frames read with zero Meta.
type Meta struct {
	// Mark is the packet mark (skb->mark). With VXLAN-GBP it carries the
	// group policy: mark = D<<22 | A<<19 | policy ID (16 bits), the
	// kernel's VXLAN_GBP_DONT_LEARN / VXLAN_GBP_POLICY_APPLIED /
	// VXLAN_GBP_ID_MASK layout. On transmit a non-zero mark emits a GBP
	// header; on receive a GBP header sets it.
	Mark uint32
	// ChecksumPartial says the frame's TCP or UDP checksum is not complete
	// (CHECKSUM_PARTIAL; VIRTIO_NET_HDR_F_NEEDS_CSUM from a vnet_hdr TAP):
	// the checksum field holds the folded pseudo-header sum and the
	// checksum over frame[ChecksumStart:] must be stored at
	// ChecksumStart+ChecksumOffset. Offsets count from the first byte of
	// the Ethernet header.
	ChecksumPartial bool
	// ChecksumStart is where checksumming starts (csum_start).
	ChecksumStart uint16
	// ChecksumOffset is the checksum field's offset from ChecksumStart
	// (csum_offset): 16 for TCP, 6 for UDP.
	ChecksumOffset uint16
	// Protocol is the EtherType of a frame that has no Ethernet header
	// (a raw VXLAN-GPE link carries IPv4, IPv6, NSH or MPLS packets).
	// Zero means the frame is an Ethernet frame.
	Protocol uint16
	// Tunnel is the tunnel metadata of a link in external (collect
	// metadata) mode: on receive, what the outer headers said; on
	// transmit, where to send the frame.
	Tunnel TunnelInfo
	// GSOType, when not zero, says the frame is a whole TCP super-frame
	// (VIRTIO_NET_HDR_GSO_TCPV4 or TCPV6, possibly with
	// VIRTIO_NET_HDR_GSO_ECN) whose segments carry GSOSize payload bytes
	// each, and ChecksumPartial is set (every segment's TCP checksum is
	// to be finished). On read: one the kernel handed over for
	// segmentation, left whole by a queue with SetWholeSuperFrames. On
	// write: a queue with a virtio_net_hdr hands it to the kernel as one
	// GSO packet, which GRO leaves alone; a queue without one writes its
	// segments.
	GSOType uint8
	// GSOSize is the payload size of each segment of a super-frame.
	GSOSize uint16
}

// TunnelInfo is the tunnel metadata of a frame on a link in external mode
// (the kernel's ip_tunnel_info in a metadata dst).
type TunnelInfo struct {
	// Valid says the rest of the struct is meaningful. On transmit, a frame
	// without it is dropped by an external link (TUNNEL_TXINFO).
	Valid bool
	// Bridge asks the link to look up its forwarding database with VNI as
	// the source VNI (IP_TUNNEL_INFO_BRIDGE) instead of sending to Remote.
	Bridge bool
	// VNI is the VXLAN network identifier.
	VNI header.VNI
	// Remote is the remote VTEP: the outer destination on transmit, the
	// outer source on receive.
	Remote netip.Addr
	// Local is the outer source on transmit (zero: chosen by the link), the
	// outer destination on receive.
	Local netip.Addr
	// RemotePort is the outer UDP destination port on transmit (zero: the
	// link's dstport), the outer source port on receive.
	RemotePort uint16
	// TOS and TTL are the outer TOS/traffic class and TTL/hop limit. On
	// transmit a zero TTL means the route default.
	TOS, TTL uint8
	// Label is the outer IPv6 flow label.
	Label uint32
	// NoChecksum sends the outer UDP checksum as zero.
	NoChecksum bool
	// DontFragment sets the outer IPv4 DF bit.
	DontFragment bool
}

// MetaDevice is a Device whose frames carry Meta. The datapath uses
// ReadMeta and WriteMeta when its overlay port implements them.
type MetaDevice interface {
	Device
	// ReadMeta is Read that also fills metas[i] for each frame read.
	// len(metas) >= len(bufs).
	ReadMeta(bufs [][]byte, sizes []int, metas []Meta, offset int) (n int, err error)
	// WriteMeta is Write with metas[i] describing bufs[i].
	WriteMeta(bufs [][]byte, metas []Meta, offset int) (n int, err error)
}

// Frame is a frame with its metadata, as exchanged with a Pipe's far end.
type Frame struct {
	Data []byte
	Meta Meta
}

// ErrPipeFull is returned (wrapped) by Pipe.Write when the far end does not
// keep up and the outbound queue is full; frames from the returned count on
// were not written.
var ErrPipeFull = errors.New("tap: pipe queue full")

// PipeOptions configures NewPipe.
type PipeOptions struct {
	// QueueLen is the capacity of each direction's queue; zero means 1024.
	QueueLen int
	// BatchSize is what BatchSize reports; zero means 64.
	BatchSize int
}

// Pipe is an in-memory overlay port: one end is a Device (MetaDevice) for
// the datapath, the other end is for tests. Frames injected with Inject
// are what the host "sends" into the interface, and the datapath reads
// them; frames the datapath writes come out of Out. Close unblocks readers
// and closes Out.
//
// A Pipe is lossless by design, like the kernel's path between a TAP and
// its host stack: it never drops, reorders or duplicates a frame, except
// that Write refuses frames when Out is full (counted by Dropped). Loss,
// reordering and duplication are knobs of the in-memory underlay network
// instead (underlay.NetworkOptions Loss, Reorder and Duplicate), where the
// kernel vxlan driver meets them too.
type Pipe struct {
	in        chan Frame
	out       chan Frame
	done      chan struct{}
	batch     int
	closeOnce sync.Once

	mu     sync.RWMutex // guards closed against Write racing Close
	closed bool

	dropped atomic.Uint64
}

var _ MetaDevice = (*Pipe)(nil)

// NewPipe returns an open Pipe.
func NewPipe(opts PipeOptions) *Pipe {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 1024
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	return &Pipe{
		in:    make(chan Frame, opts.QueueLen),
		out:   make(chan Frame, opts.QueueLen),
		done:  make(chan struct{}),
		batch: opts.BatchSize,
	}
}

// Inject queues a copy of frame for the datapath to read, with zero Meta.
// It blocks while the queue is full and fails after Close.
func (p *Pipe) Inject(frame []byte) error { return p.InjectMeta(frame, Meta{}) }

// InjectMeta queues a copy of frame with its metadata.
func (p *Pipe) InjectMeta(frame []byte, m Meta) error {
	f := Frame{Data: append([]byte(nil), frame...), Meta: m}
	select {
	case <-p.done:
		return fmt.Errorf("tap: inject: %w", net.ErrClosed)
	default:
	}
	select {
	case p.in <- f:
		return nil
	case <-p.done:
		return fmt.Errorf("tap: inject: %w", net.ErrClosed)
	}
}

// Out returns the channel of frames the datapath wrote. It is closed by
// Close. Each Frame.Data is a fresh copy owned by the receiver.
func (p *Pipe) Out() <-chan Frame { return p.out }

// Dropped returns how many frames Write refused because Out was full.
func (p *Pipe) Dropped() uint64 { return p.dropped.Load() }

// Read implements Device.
func (p *Pipe) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return p.ReadMeta(bufs, sizes, nil, offset)
}

// ReadMeta implements MetaDevice. metas may be nil. Frames longer than the
// space in bufs[i] are cut short.
func (p *Pipe) ReadMeta(bufs [][]byte, sizes []int, metas []Meta, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	var f Frame
	select {
	case f = <-p.in:
	case <-p.done:
		return 0, fmt.Errorf("tap: read: %w", net.ErrClosed)
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n][offset:], f.Data)
		if metas != nil {
			metas[n] = f.Meta
		}
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case f = <-p.in:
		default:
			return n, nil
		}
	}
}

// Write implements Device.
func (p *Pipe) Write(bufs [][]byte, offset int) (int, error) {
	return p.WriteMeta(bufs, nil, offset)
}

// WriteMeta implements MetaDevice. metas may be nil.
func (p *Pipe) WriteMeta(bufs [][]byte, metas []Meta, offset int) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, fmt.Errorf("tap: write: %w", net.ErrClosed)
	}
	for i, b := range bufs {
		f := Frame{Data: append([]byte(nil), b[offset:]...)}
		if metas != nil {
			f.Meta = metas[i]
		}
		select {
		case p.out <- f:
		default:
			p.dropped.Add(uint64(len(bufs) - i))
			return i, fmt.Errorf("tap: write: %w", ErrPipeFull)
		}
	}
	return len(bufs), nil
}

// BatchSize implements Device.
func (p *Pipe) BatchSize() int { return p.batch }

// Close implements Device. It unblocks Read and Inject and closes Out.
func (p *Pipe) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.mu.Lock()
		p.closed = true
		close(p.out)
		p.mu.Unlock()
	})
	return nil
}
