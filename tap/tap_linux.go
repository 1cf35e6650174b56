package tap

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/sys"
)

// OffloadMode selects whether Open negotiates TAP offloads.
type OffloadMode int

const (
	// OffloadAuto tries IFF_VNET_HDR with checksum and segmentation
	// offloads and falls back to plain frames when the kernel refuses.
	OffloadAuto OffloadMode = iota
	// OffloadOff opens a plain TAP: no virtio_net_hdr, the kernel computes
	// every checksum and segments every TSO burst before we see it.
	OffloadOff
)

// Offloads is the set of TUN_F_* offloads the kernel granted, as passed to
// TUNSETOFFLOAD. Zero means plain frames (no virtio_net_hdr).
type Offloads uint32

// Offload bits (include/uapi/linux/if_tun.h).
const (
	OffloadCSUM Offloads = sys.TUN_F_CSUM
	OffloadTSO4 Offloads = sys.TUN_F_TSO4
	OffloadTSO6 Offloads = sys.TUN_F_TSO6
	OffloadUSO4 Offloads = sys.TUN_F_USO4
	OffloadUSO6 Offloads = sys.TUN_F_USO6
)

// String lists the granted offloads like ethtool feature names.
func (o Offloads) String() string {
	if o == 0 {
		return "none"
	}
	var b []byte
	for _, f := range []struct {
		bit  Offloads
		name string
	}{{OffloadCSUM, "csum"}, {OffloadTSO4, "tso4"}, {OffloadTSO6, "tso6"}, {OffloadUSO4, "uso4"}, {OffloadUSO6, "uso6"}} {
		if o&f.bit != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, f.name...)
		}
	}
	return string(b)
}

// Options configures Open.
type Options struct {
	// Name is the interface name; "" lets the kernel choose ("tap%d").
	Name string
	// MAC is the interface's hardware address; zero keeps the kernel's
	// random one.
	MAC header.MAC
	// MTU is the interface MTU; 0 keeps the default (1500).
	MTU int
	// Queues is the number of queues (one fd each, IFF_MULTI_QUEUE when
	// more than one); 0 means 1.
	Queues int
	// Offload selects offload negotiation (default OffloadAuto).
	Offload OffloadMode
	// NoUSO does not offer UDP segmentation offload (USO4/USO6) even when
	// the kernel supports it.
	NoUSO bool
	// Up sets the interface administratively up after creation.
	Up bool
	// BatchSize is the value Device.BatchSize reports; 0 means 64.
	BatchSize int
	// TxQueueLen, when positive, sets the interface's transmit queue
	// length (txqueuelen), which is also the length of each queue's ring
	// of frames the kernel holds for Read: a frame arriving to a full
	// ring is dropped (TX dropped). 0 keeps the kernel's default (1000),
	// which is ample with offloads (each entry can be a 64 KiB
	// super-frame) but only about 1.5 MB of MTU-sized frames without.
	TxQueueLen int
	// WaitInThread makes a Read or Write that has to wait block its own
	// OS thread in ppoll(2) on the queue's descriptor, which Go's network
	// poller then does not watch (sys.PollConn): the kernel wakes the
	// waiting thread itself. Meant for a reader locked to a thread bound to
	// a CPU (vtep.HostOptions.PinThread); others are better served by the
	// poller.
	WaitInThread bool
}

// vnetHdrLen is the virtio_net_hdr size we select with TUNSETVNETHDRSZ: the
// 12-byte virtio_net_hdr_mrg_rxbuf (num_buffers unused but present).
const vnetHdrLen = header.VirtioNetHdrMrgRxbufSize

// maxSuperFrame bounds a TSO/USO super-frame read from the TAP: a 64 KiB IP
// packet plus an Ethernet header with two VLAN tags.
const maxSuperFrame = 65535 + 22

// Linux is a Linux TAP interface with one or more queues. It implements
// Device through its first queue; use Queue(i) for the others.
//
// The interface is non-persistent: it disappears when the last queue is
// closed. Close removes it at once.
type Linux struct {
	name     string
	index    int
	offloads Offloads
	queues   []*Queue
	nl       *netlink.Handle

	closeOnce sync.Once
	closeErr  error
}

var (
	_ MetaDevice = (*Linux)(nil)
	_ MetaDevice = (*Queue)(nil)
)

// Open creates a TAP interface as described by opts. It runs in the network
// namespace of the calling thread; the returned queues keep working from any
// goroutine.
func Open(opts Options) (*Linux, error) {
	nq := max(opts.Queues, 1)
	h, err := netlink.NewHandle(syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("tap: netlink: %w", err)
	}
	t, err := open(h, opts, nq, opts.Offload == OffloadAuto)
	if err != nil && opts.Offload == OffloadAuto && errors.Is(err, errNoOffload) {
		t, err = open(h, opts, nq, false)
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	return t, nil
}

var errNoOffload = errors.New("tap: offloads refused")

// refuseOffloadsForTest makes negotiation fail, to test the fallback.
var refuseOffloadsForTest bool

func open(h *netlink.Handle, opts Options, nq int, vnet bool) (*Linux, error) {
	flags := netlink.TUNTAP_NO_PI
	if nq > 1 {
		flags |= netlink.TUNTAP_MULTI_QUEUE
	} else {
		flags |= netlink.TUNTAP_ONE_QUEUE
	}
	if vnet {
		flags |= netlink.TUNTAP_VNET_HDR
	}
	link := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: opts.Name},
		Mode:       netlink.TUNTAP_MODE_TAP,
		Flags:      flags,
		Queues:     nq,
		NonPersist: true,
	}
	if err := h.LinkAdd(link); err != nil {
		name := opts.Name
		if name == "" {
			name = "tap"
		}
		return nil, fmt.Errorf("tap: creating %s: %w", name, err)
	}
	t := &Linux{name: link.Name, index: link.Index, nl: h}
	fail := func(err error) (*Linux, error) {
		for _, f := range link.Fds {
			f.Close()
		}
		return nil, err
	}
	var granted Offloads
	if vnet {
		var err error
		granted, err = negotiate(link.Fds, opts.NoUSO)
		if err != nil {
			return fail(fmt.Errorf("%w: %v", errNoOffload, err))
		}
	}
	t.offloads = granted
	if t.index == 0 {
		l, err := h.LinkByName(t.name)
		if err != nil {
			return fail(fmt.Errorf("tap: %s: %w", t.name, err))
		}
		t.index = l.Attrs().Index
	}
	nlLink := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: t.name, Index: t.index}}
	if opts.MTU != 0 {
		if err := h.LinkSetMTU(nlLink, opts.MTU); err != nil {
			return fail(fmt.Errorf("tap: %s: setting mtu %d: %w", t.name, opts.MTU, err))
		}
	}
	if !opts.MAC.IsZero() {
		if err := h.LinkSetHardwareAddr(nlLink, net.HardwareAddr(opts.MAC[:])); err != nil {
			return fail(fmt.Errorf("tap: %s: setting address %s: %w", t.name, opts.MAC, err))
		}
	}
	if opts.TxQueueLen > 0 {
		if err := h.LinkSetTxQLen(nlLink, opts.TxQueueLen); err != nil {
			return fail(fmt.Errorf("tap: %s: setting txqueuelen %d: %w", t.name, opts.TxQueueLen, err))
		}
	}
	if opts.Up {
		if err := h.LinkSetUp(nlLink); err != nil {
			return fail(fmt.Errorf("tap: %s: setting up: %w", t.name, err))
		}
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 64
	}
	for i, f := range link.Fds {
		q, err := newQueue(t, i, f, granted, batch, opts.WaitInThread)
		if err != nil {
			for _, q := range t.queues {
				q.file.Close()
			}
			return fail(err)
		}
		t.queues = append(t.queues, q)
	}
	return t, nil
}

// negotiate sets the 12-byte vnet header and the widest offload set the
// kernel accepts on every queue fd. Checksum offload alone is the minimum;
// TSO needs a segmenter (segmentFrame); USO is optional (Linux 6.2+).
func negotiate(files []*os.File, noUSO bool) (Offloads, error) {
	if refuseOffloadsForTest {
		return 0, errors.New("refused for a test")
	}
	want := []Offloads{OffloadCSUM}
	if segmenterAvailable {
		base := OffloadCSUM | OffloadTSO4 | OffloadTSO6
		want = []Offloads{base, OffloadCSUM}
		if !noUSO && usoSegmenterAvailable {
			want = []Offloads{base | OffloadUSO4 | OffloadUSO6, base, OffloadCSUM}
		}
	}
	var granted Offloads
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return 0, err
		}
		var opErr error
		err = rc.Control(func(fd uintptr) {
			if opErr = sys.SetVnetHdrSize(fd, vnetHdrLen); opErr != nil {
				opErr = os.NewSyscallError("ioctl TUNSETVNETHDRSZ", opErr)
				return
			}
			for _, w := range want {
				if granted != 0 && w != granted {
					continue
				}
				if e := sys.SetTAPOffload(fd, int(w)); e == nil {
					granted = w
					return
				} else {
					opErr = os.NewSyscallError("ioctl TUNSETOFFLOAD", e)
				}
			}
		})
		if err != nil {
			return 0, err
		}
		if granted == 0 {
			return 0, opErr
		}
	}
	return granted, nil
}

// Name returns the interface name.
func (t *Linux) Name() string { return t.name }

// Index returns the interface index.
func (t *Linux) Index() int { return t.index }

// Offloads returns the offloads granted by the kernel (0: plain frames).
func (t *Linux) Offloads() Offloads { return t.offloads }

// NumQueues returns the number of queues.
func (t *Linux) NumQueues() int { return len(t.queues) }

// Queue returns queue i, a Device of its own. Closing a single queue
// detaches it; the interface stays until Linux.Close or the last queue
// closes.
func (t *Linux) Queue(i int) *Queue { return t.queues[i] }

// Read reads from queue 0. See Device.
func (t *Linux) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return t.queues[0].Read(bufs, sizes, offset)
}

// Write writes to queue 0. See Device.
func (t *Linux) Write(bufs [][]byte, offset int) (int, error) {
	return t.queues[0].Write(bufs, offset)
}

// ReadMeta reads from queue 0. See Queue.ReadMeta.
func (t *Linux) ReadMeta(bufs [][]byte, sizes []int, metas []Meta, offset int) (int, error) {
	return t.queues[0].ReadMeta(bufs, sizes, metas, offset)
}

// WriteMeta writes to queue 0. See Queue.WriteMeta.
func (t *Linux) WriteMeta(bufs [][]byte, metas []Meta, offset int) (int, error) {
	return t.queues[0].WriteMeta(bufs, metas, offset)
}

// BatchSize returns the preferred batch size.
func (t *Linux) BatchSize() int { return t.queues[0].BatchSize() }

// Stats returns the sum of all queues' counters.
func (t *Linux) Stats() StatsSnapshot {
	var s StatsSnapshot
	for _, q := range t.queues {
		s.add(q.Stats())
	}
	return s
}

// Close closes every queue and removes the interface. Blocked Reads return
// an error wrapping net.ErrClosed.
func (t *Linux) Close() error {
	t.closeOnce.Do(func() {
		for _, q := range t.queues {
			q.closed.Store(true)
		}
		// Remove the interface first, while its index surely is ours; the
		// handle is bound to the namespace the TAP was created in.
		err := t.nl.LinkDel(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: t.name, Index: t.index}})
		if err != nil && !errors.Is(err, syscall.ENODEV) {
			t.closeErr = fmt.Errorf("tap: deleting %s: %w", t.name, err)
		}
		for _, q := range t.queues {
			if err := q.Close(); err != nil && t.closeErr == nil {
				t.closeErr = err
			}
		}
		t.nl.Close()
	})
	return t.closeErr
}

// closedErr is returned by I/O after Close.
var closedErr = fmt.Errorf("tap: %w", net.ErrClosed)

// Stats are a queue's counters. All fields are updated atomically.
type Stats struct {
	// ReadFrames counts frames returned by Read (segments included).
	ReadFrames atomic.Uint64
	// ReadSuperFrames counts GSO super-frames read from the kernel.
	ReadSuperFrames atomic.Uint64
	// ReadSegments counts frames produced by segmenting super-frames.
	ReadSegments atomic.Uint64
	// ReadChecksums counts partial checksums (NEEDS_CSUM) completed.
	ReadChecksums atomic.Uint64
	// ReadDropped counts frames read from the kernel and dropped:
	// malformed virtio_net_hdr, unsupported GSO type, or too big for the
	// caller's buffer.
	ReadDropped atomic.Uint64
	// WriteFrames counts frames passed to Write.
	WriteFrames atomic.Uint64
	// WriteSuperFrames counts coalesced super-frames written.
	WriteSuperFrames atomic.Uint64
	// WriteSegments counts frames that went out inside a super-frame.
	WriteSegments atomic.Uint64
	// WriteErrors counts frames the kernel refused.
	WriteErrors atomic.Uint64
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	ReadFrames, ReadSuperFrames, ReadSegments, ReadChecksums, ReadDropped uint64
	WriteFrames, WriteSuperFrames, WriteSegments, WriteErrors             uint64
}

func (s *StatsSnapshot) add(o StatsSnapshot) {
	s.ReadFrames += o.ReadFrames
	s.ReadSuperFrames += o.ReadSuperFrames
	s.ReadSegments += o.ReadSegments
	s.ReadChecksums += o.ReadChecksums
	s.ReadDropped += o.ReadDropped
	s.WriteFrames += o.WriteFrames
	s.WriteSuperFrames += o.WriteSuperFrames
	s.WriteSegments += o.WriteSegments
	s.WriteErrors += o.WriteErrors
}

// Queue is one queue (one fd) of a Linux TAP. It implements Device.
//
// Read must not be called concurrently with itself, nor Write with itself;
// a Read and a Write may run at the same time (one goroutine per direction).
type Queue struct {
	t       *Linux
	idx     int
	file    io.Closer
	rc      syscall.RawConn
	vnet    bool
	batch   int
	closed  atomic.Bool
	whole   atomic.Bool
	stats   Stats
	readMu  sync.Mutex
	writeMu sync.Mutex
	r       reader
	w       writer
}

func newQueue(t *Linux, idx int, f *os.File, off Offloads, batch int, inThread bool) (*Queue, error) {
	rc, closer, err := sys.RawConnOf(f, inThread)
	if err != nil {
		return nil, fmt.Errorf("tap: %s queue %d: %w", t.name, idx, err)
	}
	q := &Queue{t: t, idx: idx, file: closer, rc: rc, vnet: off != 0, batch: batch}
	q.r.init(q)
	q.w.init(q)
	return q, nil
}

// BatchSize returns the preferred number of buffers for Read.
func (q *Queue) BatchSize() int { return q.batch }

// SetWholeSuperFrames makes ReadMeta hand out TCP super-frames (TSO) whole,
// described by Meta.GSOType and GSOSize, instead of segmenting them, when
// they fit the caller's buffer; the caller then segments them or sends
// them on whole. Read is not affected.
func (q *Queue) SetWholeSuperFrames(on bool) { q.whole.Store(on) }

// Offloads returns the offloads granted on the queue's interface.
func (q *Queue) Offloads() Offloads { return q.t.offloads }

// Stats returns a copy of the queue's counters.
func (q *Queue) Stats() StatsSnapshot {
	s := &q.stats
	return StatsSnapshot{
		ReadFrames: s.ReadFrames.Load(), ReadSuperFrames: s.ReadSuperFrames.Load(),
		ReadSegments: s.ReadSegments.Load(), ReadChecksums: s.ReadChecksums.Load(),
		ReadDropped: s.ReadDropped.Load(), WriteFrames: s.WriteFrames.Load(),
		WriteSuperFrames: s.WriteSuperFrames.Load(), WriteSegments: s.WriteSegments.Load(),
		WriteErrors: s.WriteErrors.Load(),
	}
}

// Close detaches the queue. Blocked Reads return net.ErrClosed.
func (q *Queue) Close() error {
	q.closed.Store(true)
	err := q.file.Close()
	if err != nil && errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// ioErr maps an error from the poller to the Device contract.
func (q *Queue) ioErr(op string, err error) error {
	if q.closed.Load() || errors.Is(err, os.ErrClosed) {
		return closedErr
	}
	return fmt.Errorf("tap: %s %s: %w", op, q.t.name, err)
}

// SetWholeSuperFrames sets Queue.SetWholeSuperFrames on every queue.
func (t *Linux) SetWholeSuperFrames(on bool) {
	for _, q := range t.queues {
		q.SetWholeSuperFrames(on)
	}
}
