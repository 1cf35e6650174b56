// Package gro coalesces the inner TCP (and optionally UDP) segments of a
// batch of decapsulated Ethernet frames into TSO/USO super-frames for a TAP
// with IFF_VNET_HDR, following the kernel's GRO rules, so that the kernel
// receives one 64 KiB skb where the wire carried up to 64 segments.
//
// # Rules
//
// A [Coalescer] copies the merge and flush predicates of the kernel's NAPI
// GRO as it runs on a vxlan device (net/core/gro.c dev_gro_receive,
// eth_gro_receive, vlan_gro_receive, net/ipv4/af_inet.c inet_gro_receive,
// net/ipv6/ip6_offload.c ipv6_gro_receive, include/net/gro.h inet_gro_flush
// and ipv6_gro_flush, net/ipv4/tcp_offload.c tcp_gro_receive,
// net/ipv4/udp_offload.c udp_gro_receive_segment):
//
//   - Candidates: Ethernet with up to two 802.1Q/802.1ad tags; IPv4 with IHL
//     5, not a fragment, a valid header checksum and total length equal to
//     the frame (padded frames are not merged); IPv6 whose payload length
//     equals the frame, with hop-by-hop, routing and destination-options
//     headers allowed when byte-identical; TCP with data offset >= 5.
//   - Same flow: same caller context ([Meta].Context, e.g. the VNI), IP
//     version, addresses, protocol and ports. Merging further needs the
//     same Ethernet header and IPv6 flow label.
//   - Merge (append only): TTL, TOS and DF (IPv6: hop limit and traffic
//     class) equal; IPv4 ID equal to the first segment's ID plus the number
//     of segments held, or, when the second segment has DF set and the
//     same ID, fixed for the rest of the flow; TCP flag word equal except
//     CWR, FIN and PSH (the kernel's word includes the data offset and the
//     window); no CWR in the new segment; ACK equal; options byte-identical;
//     sequence number contiguous; payload > 0 and <= the first segment's
//     payload (gso_size); merged IP packet <= 65535 bytes; at most 64
//     segments.
//   - Completion: a merged segment shorter than gso_size, or with PSH or
//     FIN, ends its super-frame (PSH and FIN are ORed into it); a same-flow
//     frame that cannot be merged completes the held super-frame and is
//     itself held if it can start one (payload > 0, no URG, PSH, RST, SYN
//     or FIN), otherwise written untouched. Eight buckets by flow hash hold
//     at most eight flows each; holding a ninth completes the oldest
//     (gro_flush_oldest). Everything held is completed at the end of the
//     batch, as NAPI does at the end of a poll: no frame waits for the next
//     batch, so GRO adds no latency.
//   - Inner UDP (Config.UDP, only when the TAP accepted USO): same flow and
//     IP rules; equal payload sizes, one shorter tail ends the super-frame, a
//     larger one completes it; at most 64 segments. Unlike the kernel, a
//     zero IPv4 UDP checksum ("no checksum") is accepted, so VXLAN-in-VXLAN
//     and other zero-checksum senders coalesce; the kernel fills it in when
//     it segments.
//
// Deliberate differences, all more conservative: a frame that cannot be
// merged completes the held flow with its 5-tuple even when the kernel
// would not look at it (IPv4 options, a first fragment, a bad checksum, a
// differing Ethernet header, IPv6 flow label or extension headers, where
// the kernel would hold a second flow), so that the output never reorders
// a flow; the segment limit of 64 also applies to TCP; the IPv4 fixed-ID
// mode needs DF, as in Linux 6.12 (later kernels drop that condition).
//
// # Checksums
//
// Every TCP/UDP checksum is verified before a segment is merged (the head
// of a flow lazily, when a second segment arrives), because the
// super-frame is written with NEEDS_CSUM (CHECKSUM_PARTIAL), which the
// kernel does not verify again for local delivery. A frame whose checksum
// is bad is written untouched, and completes the flow it belongs to. The
// caller skips verification per frame with [Meta].Verified when integrity
// is already guaranteed, typically because the outer UDP checksum, which
// covers the whole inner frame, was non-zero and verified by the kernel.
// Frames written untouched keep their checksums and get a zeroed
// virtio_net_hdr, so the kernel verifies them itself.
//
// # Output
//
// A super-frame has flags NEEDS_CSUM; gso_type TCPV4 or TCPV6 (with ECN
// when its first segment has CWR, like SKB_GSO_TCP_ECN) or UDP_L4; gso_size
// the first segment's payload; csum_start the transport header; csum_offset
// 16 or 6; hdr_len all headers; the IPv4 total length and header checksum
// or IPv6 payload length, and the UDP length, rewritten; the TCP/UDP
// checksum field holding the folded pseudo-header sum. Its IPv4 ID is the
// first segment's: when the kernel segments it again it numbers the
// segments from there, which for a fixed-ID flow changes the IDs (the
// virtio header cannot carry SKB_GSO_TCP_FIXEDID; with DF set the ID has no
// meaning, RFC 6864).
//
// The output lists frames in the order of their first segment, so the
// order within every flow is kept. Super-frames are built in an arena the
// Coalescer owns, or, with Config.Vectored, only their headers are, and
// their payload is listed as slices of the input frames for a gathering
// write; untouched frames are the caller's buffers. The package does no
// I/O and allocates nothing per batch.
package gro

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/header"
)

// Limits of the engine (kernel values where the kernel has one).
const (
	// NumBuckets is the number of flow buckets (GRO_HASH_BUCKETS).
	NumBuckets = 8
	// FlowsPerBucket is the number of flows held per bucket (MAX_GRO_SKBS).
	FlowsPerBucket = 8
	// MaxSegments is the most segments in one super-frame
	// (UDP_GRO_CNT_MAX; also applied to TCP).
	MaxSegments = 64
	// MaxIPLen is the largest merged IP packet, header included
	// (gro_max_size is 64 KiB for encapsulated flows).
	MaxIPLen = 65535
	// maxL2Len is the longest Ethernet header merged: two VLAN tags.
	maxL2Len = header.EthernetSize + 2*header.VLANTagSize
)

// Defaults for Config fields left zero.
const (
	DefaultHeadroom  = 128
	DefaultArenaSize = 1 << 20
	DefaultBatchSize = 128
)

// Config configures a Coalescer.
type Config struct {
	// UDP enables coalescing inner UDP datagrams into UDP_L4 (USO)
	// super-frames. Set it only if the TAP accepted TUN_F_USO4|TUN_F_USO6.
	UDP bool
	// Headroom is the largest offset Coalesce accepts; super-frames are
	// built with this much room in front (default 128, tap.Headroom).
	Headroom int
	// ArenaSize is the size of the buffer super-frames are built in per
	// batch (default 1 MiB, or with Vectored the minimum; at least one
	// 64 KiB frame plus headroom). When it is full, flows stop growing
	// (ReasonNoBuffer).
	ArenaSize int
	// BatchSize is the batch length to preallocate for (default 128);
	// larger batches work but allocate once when first seen.
	BatchSize int
	// Vectored builds super-frames without copying their payload: only
	// the headers are copied into the arena (and rewritten there), and
	// Output.Payloads lists the payload of every segment, as slices of the
	// caller's buffers, to be written after them (writev). It saves a copy
	// of every coalesced byte.
	Vectored bool
}

// Meta is what the caller knows about one input frame.
type Meta struct {
	// Context separates flows that must never merge although their
	// headers match, e.g. frames from different VNIs or links. Frames
	// merge only with frames of the same Context.
	Context uint32
	// Verified reports that the frame's integrity is already guaranteed,
	// e.g. the outer UDP checksum covering it was verified by the kernel,
	// so its TCP/UDP checksum is not checked again.
	Verified bool
	// Whole marks a frame that is a super-frame already (one a peer's
	// kernel segmented nowhere, written on with its own GSO size): it is
	// never held or merged, and it completes the held flow it belongs to,
	// so that the flow stays in order.
	Whole bool
}

// Output is the result of one batch: frame j is Frames[j][offset:], to be
// written to the TAP with virtio header Hdrs[j]. Index[j] is the input index
// of its first segment and Segs[j] the number of input frames in it (1 for
// an untouched frame, whose header is zero). The slices, and the frames
// built in the arena, are owned by the Coalescer and valid until the next
// call to Coalesce; an untouched frame is the caller's buffer itself.
//
// With Config.Vectored, a super-frame's Frames[j][offset:] holds only its
// headers, and Payloads[j] the pieces of payload that follow them, in
// order (slices of the input buffers); Payloads[j] is nil for every other
// frame, and Payloads itself is nil without Vectored. [Output.AppendFrame]
// puts a frame together.
type Output struct {
	Frames   [][]byte
	Hdrs     []header.VirtioNetHdrFields
	Index    []int
	Segs     []int
	Payloads [][][]byte
}

// AppendFrame appends output frame j, from offset on and with its payload
// pieces, to dst and returns the result.
func (o Output) AppendFrame(dst []byte, j, offset int) []byte {
	dst = append(dst, o.Frames[j][offset:]...)
	if o.Payloads != nil {
		for _, p := range o.Payloads[j] {
			dst = append(dst, p...)
		}
	}
	return dst
}

// Errors returned by Coalesce for arguments it cannot use.
var (
	// ErrOffset reports a negative offset, one larger than Config.Headroom,
	// or a buffer shorter than offset.
	ErrOffset = errors.New("gro: offset beyond headroom or buffer")
	// ErrMeta reports a meta slice whose length differs from bufs'.
	ErrMeta = errors.New("gro: meta and bufs differ in length")
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpURG = 0x20
	tcpCWR = 0x80
)

// flowKey identifies a flow. It is comparable and pointer-free so that a
// lookup is one struct comparison (2026-11: packed arrays as in
// tailscale's flowtrack.Tuple).
type flowKey struct {
	src, dst [16]byte
	ports    uint32
	ctx      uint32
	proto    uint8
	v6       bool
}

// bucket hashes the key to one of the NumBuckets buckets.
func (k *flowKey) bucket() int {
	h := k.ctx*0x9e3779b1 ^ k.ports ^ uint32(k.proto)<<24
	for i := 0; i < 16; i += 4 {
		h = (h ^ binary.LittleEndian.Uint32(k.src[i:])) * 0x85ebca6b
		h = (h ^ binary.LittleEndian.Uint32(k.dst[i:])) * 0xc2b2ae35
	}
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	return int(h % NumBuckets)
}

// flow is one held (super-)frame under construction. Its segments are the
// input frames head → next[head] → … → tail; headers come from the head.
type flow struct {
	key     flowKey
	age     uint64
	ipLen   int    // merged IP packet length
	nextSeq uint32 // TCP: sequence number the next segment must carry
	head    int32
	tail    int32
	out     int32 // index in Output
	count   uint16
	mss     uint16 // first segment's payload (gso_size)
	l2      uint16
	l4      uint16
	hdrLen  uint16
	id0     uint16 // IPv4 ID of the head
	orFlags uint8  // PSH|FIN of merged segments
	used    bool
	udp     bool
	v6      bool
	fixedID bool
	csumOK  bool // head checksum verified
}

// parsed is what the engine reads from one frame.
type parsed struct {
	key     flowKey
	hasKey  bool   // key is valid (IP + ports could be read)
	ok      bool   // a merge candidate as far as its own headers go
	why     Reason // when !ok
	udp     bool
	v6      bool
	l2      int
	l4      int
	hdrLen  int
	payload int
	flags   uint8
	seq     uint32
}

// Coalescer is a GRO engine with preallocated tables and arena. It is not
// safe for concurrent use: give each worker its own.
type Coalescer struct {
	cfg      Config
	arena    []byte
	reserved int // arena bytes promised to super-frames of this batch
	used     int // arena bytes written
	flows    [NumBuckets * FlowsPerBucket]flow
	nheld    [NumBuckets]uint8
	age      uint64
	next     []int32 // segment chain by input index
	pay      []int32 // payload offset by input index
	in       [][]byte
	offset   int
	out      Output
	parts    [][]byte // Vectored: backing of out.Payloads
	stats    Stats
}

// New returns a Coalescer for cfg, allocating its arena and tables.
func New(cfg Config) *Coalescer {
	if cfg.Headroom <= 0 {
		cfg.Headroom = DefaultHeadroom
	}
	if cfg.ArenaSize <= 0 {
		cfg.ArenaSize = DefaultArenaSize
		if cfg.Vectored {
			// Only headers go into the arena: the minimum below
			// (one whole frame) holds those of hundreds of
			// super-frames.
			cfg.ArenaSize = 1
		}
	}
	if min := cfg.Headroom + maxL2Len + MaxIPLen + 8; cfg.ArenaSize < min {
		cfg.ArenaSize = min
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	c := &Coalescer{cfg: cfg, arena: make([]byte, cfg.ArenaSize)}
	c.grow(cfg.BatchSize)
	return c
}

func (c *Coalescer) grow(n int) {
	c.next = make([]int32, n)
	c.pay = make([]int32, n)
	c.out = Output{
		Frames: make([][]byte, 0, n),
		Hdrs:   make([]header.VirtioNetHdrFields, 0, n),
		Index:  make([]int, 0, n),
		Segs:   make([]int, 0, n),
	}
	if c.cfg.Vectored {
		// Every input frame is at most one payload piece: the appends
		// in complete never outgrow this backing array.
		c.out.Payloads = make([][][]byte, 0, n)
		c.parts = make([][]byte, 0, n)
	}
}

// Stats returns the counters accumulated since New.
func (c *Coalescer) Stats() Stats { return c.stats }

// Coalesce runs GRO over one batch: frame i is bufs[i][offset:], with
// meta[i] (meta may be nil: context 0, not verified). It returns the frames
// to write, in order; see [Output]. Nothing is held across calls.
//
// Coalesce reads the frames and does not modify them: super-frames are
// copied into the arena, and untouched frames are returned as given. The
// caller must not modify bufs until it has written the output.
func (c *Coalescer) Coalesce(bufs [][]byte, offset int, meta []Meta) (Output, error) {
	if offset < 0 || offset > c.cfg.Headroom {
		return Output{}, ErrOffset
	}
	if meta != nil && len(meta) != len(bufs) {
		return Output{}, ErrMeta
	}
	for _, b := range bufs {
		if len(b) < offset {
			return Output{}, ErrOffset
		}
	}
	if len(bufs) > len(c.next) {
		c.grow(len(bufs))
	}
	c.reserved, c.used = 0, 0
	clear(c.out.Frames) // drop references to the previous batch's buffers
	c.out.Frames = c.out.Frames[:0]
	c.out.Hdrs = c.out.Hdrs[:0]
	c.out.Index = c.out.Index[:0]
	c.out.Segs = c.out.Segs[:0]
	if c.cfg.Vectored {
		clear(c.out.Payloads)
		c.out.Payloads = c.out.Payloads[:0]
		clear(c.parts)
		c.parts = c.parts[:0]
	}
	c.in, c.offset = bufs, offset
	for i := range bufs {
		var m Meta
		if meta != nil {
			m = meta[i]
		}
		c.add(i, m)
	}
	for s := range c.flows {
		if c.flows[s].used {
			c.complete(s, ReasonBatchEnd)
		}
	}
	c.in = nil
	c.stats.FramesOut += uint64(len(c.out.Frames))
	return c.out, nil
}

// checksum verification state of a frame
const (
	csumUnknown = iota
	csumGood
	csumBad
)

func (c *Coalescer) add(i int, m Meta) {
	fr := c.in[i][c.offset:]
	c.stats.FramesIn++
	var p parsed
	c.parse(fr, m.Context, &p)
	if !p.hasKey {
		c.bypass(i, p.why)
		return
	}
	b := p.key.bucket()
	if m.Whole {
		if s := c.lookup(b, &p.key); s >= 0 {
			c.complete(s, ReasonWhole)
		}
		c.bypass(i, ReasonWhole)
		return
	}
	cs := csumUnknown
	if m.Verified {
		cs = csumGood
	}
	if s := c.lookup(b, &p.key); s >= 0 {
		r, merged := c.tryMerge(s, i, fr, &p, &cs)
		if merged {
			return
		}
		c.complete(s, r)
		if cs == csumBad {
			c.bypass(i, ReasonBadChecksum)
			return
		}
	}
	if r, ok := p.holdable(); !ok {
		c.bypass(i, r)
		return
	}
	c.hold(b, i, fr, &p, cs == csumGood)
}

// parse reads the headers of fr into p. It never reads out of bounds.
func (c *Coalescer) parse(fr []byte, ctx uint32, p *parsed) {
	p.why = ReasonNotGROable
	if len(fr) < header.EthernetSize {
		return
	}
	l2 := 12
	et := binary.BigEndian.Uint16(fr[l2:])
	for tags := 0; header.IsVLANEtherType(et); tags++ {
		if tags == 2 {
			return
		}
		l2 += header.VLANTagSize
		if l2+2 > len(fr) {
			return
		}
		et = binary.BigEndian.Uint16(fr[l2:])
	}
	l2 += 2
	p.l2 = l2
	var l4 int
	switch et {
	case header.EtherTypeIPv4:
		ip := fr[l2:]
		if len(ip) < header.IPv4MinimumSize || ip[0]>>4 != 4 {
			return
		}
		ihl := int(ip[0]&0x0f) * 4
		frag := binary.BigEndian.Uint16(ip[6:])
		l4 = l2 + ihl
		if ihl < header.IPv4MinimumSize || frag&0x1fff != 0 || len(fr) < l4+4 {
			return
		}
		p.key.proto = ip[9]
		if p.key.proto != header.TCPProtocolNumber && p.key.proto != header.UDPProtocolNumber {
			return
		}
		copy(p.key.src[:4], ip[12:16])
		copy(p.key.dst[:4], ip[16:20])
		p.key.ports = binary.BigEndian.Uint32(fr[l4:])
		p.key.ctx = ctx
		p.hasKey = true
		// inet_gro_receive: no options, no fragment, valid header
		// checksum, tot_len == GRO length (no padding).
		if ihl != header.IPv4MinimumSize || frag&0x2000 != 0 ||
			checksum.Sum(ip[:header.IPv4MinimumSize], 0) != 0xffff ||
			int(binary.BigEndian.Uint16(ip[2:])) != len(ip) {
			return
		}
	case header.EtherTypeIPv6:
		ip := fr[l2:]
		if len(ip) < header.IPv6FixedSize || ip[0]>>4 != 6 {
			return
		}
		var ok bool
		p.key.proto, l4, ok = header.IPv6(ip).SkipOptionHeaders()
		l4 += l2
		if !ok || len(fr) < l4+4 ||
			(p.key.proto != header.TCPProtocolNumber && p.key.proto != header.UDPProtocolNumber) {
			return
		}
		copy(p.key.src[:], ip[8:24])
		copy(p.key.dst[:], ip[24:40])
		p.key.ports = binary.BigEndian.Uint32(fr[l4:])
		p.key.ctx = ctx
		p.key.v6 = true
		p.hasKey = true
		p.v6 = true
		if int(binary.BigEndian.Uint16(ip[4:])) != len(ip)-header.IPv6FixedSize {
			return
		}
	default:
		return
	}
	p.l4 = l4
	if p.key.proto == header.TCPProtocolNumber {
		if len(fr) < l4+header.TCPMinimumSize {
			return
		}
		doff := int(fr[l4+12]>>4) * 4
		if doff < header.TCPMinimumSize || l4+doff > len(fr) {
			return
		}
		p.hdrLen = l4 + doff
		p.flags = fr[l4+13]
		p.seq = binary.BigEndian.Uint32(fr[l4+4:])
	} else {
		// udp_gro_receive_segment: the UDP length must be the GRO length.
		if !c.cfg.UDP || len(fr) < l4+header.UDPSize ||
			int(binary.BigEndian.Uint16(fr[l4+4:])) != len(fr)-l4 ||
			(p.v6 && binary.BigEndian.Uint16(fr[l4+6:]) == 0) { // RFC 8200 §8.1
			return
		}
		p.udp = true
		p.hdrLen = l4 + header.UDPSize
	}
	p.payload = len(fr) - p.hdrLen
	p.ok = true
}

// holdable reports whether a frame that matched no flow may start one
// (tcp_gro_receive's final check: URG, PSH, RST, SYN or FIN, or no payload,
// send the frame up at once).
func (p *parsed) holdable() (Reason, bool) {
	if !p.ok {
		return p.why, false
	}
	if !p.udp {
		if p.flags&(tcpURG|tcpRST|tcpSYN) != 0 {
			return ReasonFlags, false
		}
		if p.flags&(tcpPSH|tcpFIN) != 0 {
			return ReasonPSHFIN, false
		}
	}
	if p.payload == 0 {
		return ReasonNoPayload, false
	}
	return 0, true
}

func (c *Coalescer) lookup(b int, k *flowKey) int {
	if c.nheld[b] == 0 {
		return -1
	}
	for s := b * FlowsPerBucket; s < (b+1)*FlowsPerBucket; s++ {
		if c.flows[s].used && c.flows[s].key == *k {
			return s
		}
	}
	return -1
}

// tryMerge appends frame i to flow s if the kernel would. It returns
// merged=true when it did (and completes the flow if the segment ends it);
// otherwise the reason the flow must be completed. *cs tracks the frame's
// checksum state.
func (c *Coalescer) tryMerge(s, i int, fr []byte, p *parsed, cs *int) (Reason, bool) {
	f := &c.flows[s]
	if !p.ok {
		return p.why, false
	}
	head := c.in[f.head][c.offset:]
	l3 := p.l2
	if p.l2 != int(f.l2) || !bytes.Equal(fr[:l3], head[:l3]) {
		return ReasonHeader, false
	}
	if p.v6 {
		w, hw := binary.BigEndian.Uint32(fr[l3:]), binary.BigEndian.Uint32(head[l3:])
		if (w^hw)&0x0ff00000 != 0 || fr[l3+7] != head[l3+7] { // ipv6_gro_flush
			return ReasonTTLTOS, false
		}
		if (w^hw)&0x000fffff != 0 || p.l4 != int(f.l4) ||
			!bytes.Equal(fr[l3+header.IPv6FixedSize:p.l4], head[l3+header.IPv6FixedSize:p.l4]) {
			return ReasonHeader, false
		}
	} else if fr[l3+1] != head[l3+1] || fr[l3+8] != head[l3+8] || (fr[l3+6]^head[l3+6])&0x40 != 0 {
		return ReasonTTLTOS, false // inet_gro_flush: TOS, TTL, DF
	}
	if !p.udp {
		nt, ht := fr[p.l4:p.hdrLen], head[f.l4:f.hdrLen]
		switch {
		case p.flags&tcpCWR != 0:
			return ReasonCWR, false
		case (p.flags^ht[13])&^(tcpCWR|tcpFIN|tcpPSH) != 0:
			return ReasonFlags, false
		case nt[12]>>4 != ht[12]>>4:
			return ReasonOptions, false
		case nt[12] != ht[12]:
			return ReasonFlags, false // reserved bits
		case nt[14] != ht[14] || nt[15] != ht[15]:
			return ReasonWindow, false
		case !bytes.Equal(nt[8:12], ht[8:12]):
			return ReasonAck, false
		case !bytes.Equal(nt[header.TCPMinimumSize:], ht[header.TCPMinimumSize:]):
			return ReasonOptions, false
		}
	}
	switch {
	case p.payload == 0:
		return ReasonNoPayload, false // tcp_gro_receive: (len - 1) >= mss
	case p.payload > int(f.mss):
		return ReasonOversize, false
	case !p.udp && p.seq != f.nextSeq:
		return ReasonSeq, false
	case !p.v6 && !c.ipIDOK(f, fr[l3+4:], fr[l3+6]&0x40 != 0):
		return ReasonIPID, false
	}
	if f.ipLen+p.payload > MaxIPLen {
		return ReasonSizeLimit, false
	}
	if f.count >= MaxSegments {
		return ReasonSegmentLimit, false
	}
	if *cs == csumUnknown {
		*cs = csumBad
		if l4ChecksumOK(fr, p.l2, p.l4, p.v6, p.udp) {
			*cs = csumGood
		}
	}
	if *cs == csumBad {
		return ReasonBadChecksum, false
	}
	if !f.csumOK {
		if !l4ChecksumOK(head, p.l2, p.l4, p.v6, p.udp) {
			return ReasonBadChecksum, false
		}
		f.csumOK = true
	}
	need := p.payload
	if f.count == 1 {
		need += c.cfg.Headroom + len(head) + 8
	}
	if c.cfg.Vectored {
		need = 0 // only the headers go into the arena
		if f.count == 1 {
			need = c.cfg.Headroom + int(f.hdrLen) + 8
		}
	}
	if c.reserved+need > len(c.arena) {
		return ReasonNoBuffer, false
	}
	c.reserved += need

	c.next[f.tail] = int32(i)
	f.tail = int32(i)
	c.next[i] = -1
	c.pay[i] = int32(p.hdrLen)
	f.count++
	f.ipLen += p.payload
	f.nextSeq += uint32(p.payload)
	if !p.udp {
		f.orFlags |= p.flags & (tcpPSH | tcpFIN) // tcp_gro_receive ORs them into the head
	}
	switch {
	case f.orFlags != 0:
		c.complete(s, ReasonPSHFIN)
	case p.payload < int(f.mss):
		c.complete(s, ReasonShortSegment)
	case f.count == MaxSegments:
		c.complete(s, ReasonSegmentLimit)
	}
	return 0, true
}

// ipIDOK applies inet_gro_flush's IPv4 ID rule (Linux 6.12): the ID of the
// n-th segment held must be the first one's plus n, unless the flow is
// fixed-ID, which is decided at the second segment: DF set and the same ID.
func (c *Coalescer) ipIDOK(f *flow, idb []byte, df bool) bool {
	off := binary.BigEndian.Uint16(idb) - f.id0
	if f.count == 1 && df && off == 0 {
		f.fixedID = true
	}
	if f.fixedID && df {
		return off == 0
	}
	return off == f.count
}

// l4ChecksumOK verifies the TCP or UDP checksum of fr (which ends where the
// IP packet ends). A zero IPv4 UDP checksum means "none" and passes.
func l4ChecksumOK(fr []byte, l2, l4 int, v6, udp bool) bool {
	proto := uint8(header.TCPProtocolNumber)
	if udp {
		if !v6 && fr[l4+6] == 0 && fr[l4+7] == 0 {
			return true
		}
		proto = header.UDPProtocolNumber
	}
	ip := fr[l2:]
	var ps uint16
	if v6 {
		ps = checksum.Pseudo(ip[8:24], ip[24:40], proto, uint32(len(fr)-l4))
	} else {
		ps = checksum.Pseudo(ip[12:16], ip[16:20], proto, uint32(len(fr)-l4))
	}
	return checksum.Sum(fr[l4:], ps) == 0xffff
}

// hold starts a flow with frame i, completing the oldest flow of the bucket
// when it is full.
func (c *Coalescer) hold(b, i int, fr []byte, p *parsed, csumOK bool) {
	base := b * FlowsPerBucket
	if c.nheld[b] == FlowsPerBucket {
		oldest := base
		for s := base + 1; s < base+FlowsPerBucket; s++ {
			if c.flows[s].age < c.flows[oldest].age {
				oldest = s
			}
		}
		c.complete(oldest, ReasonBucketFull)
	}
	s := base
	for c.flows[s].used {
		s++
	}
	c.age++
	c.flows[s] = flow{
		key:     p.key,
		age:     c.age,
		ipLen:   len(fr) - p.l2,
		nextSeq: p.seq + uint32(p.payload),
		head:    int32(i),
		tail:    int32(i),
		out:     int32(len(c.out.Frames)),
		count:   1,
		mss:     uint16(p.payload),
		l2:      uint16(p.l2),
		l4:      uint16(p.l4),
		hdrLen:  uint16(p.hdrLen),
		used:    true,
		udp:     p.udp,
		v6:      p.v6,
		csumOK:  csumOK,
	}
	if !p.v6 {
		c.flows[s].id0 = binary.BigEndian.Uint16(fr[p.l2+4:])
	}
	c.next[i] = -1
	c.nheld[b]++
	c.emit(i)
}

// bypass writes frame i untouched.
func (c *Coalescer) bypass(i int, r Reason) {
	c.stats.Bypassed[r]++
	c.emit(i)
}

// emit appends frame i, untouched, to the output.
func (c *Coalescer) emit(i int) {
	c.out.Frames = append(c.out.Frames, c.in[i])
	c.out.Hdrs = append(c.out.Hdrs, header.VirtioNetHdrFields{})
	c.out.Index = append(c.out.Index, i)
	c.out.Segs = append(c.out.Segs, 1)
	if c.cfg.Vectored {
		c.out.Payloads = append(c.out.Payloads, nil)
	}
}

// complete ends flow s. A flow of one segment stays the untouched frame
// emitted when it was held; a longer one is built in the arena and replaces
// that output entry.
func (c *Coalescer) complete(s int, r Reason) {
	f := &c.flows[s]
	f.used = false
	c.nheld[s/FlowsPerBucket]--
	c.stats.Flushes[r]++
	if f.count == 1 {
		return
	}
	c.stats.SuperFrames++
	c.stats.SegmentsCoalesced += uint64(f.count)
	c.stats.SegmentsHist[histBucket(int(f.count))]++

	head := c.in[f.head][c.offset:]
	l2, l4 := int(f.l2), int(f.l4)
	size := l2 + f.ipLen
	start := (c.used+7)&^7 + c.cfg.Headroom
	var dst []byte
	if c.cfg.Vectored {
		// Headers into the arena, payload pieces referenced in place.
		hl := int(f.hdrLen)
		dst = c.arena[start : start+hl : start+hl]
		copy(dst, head[:hl])
		first := len(c.parts)
		c.parts = append(c.parts, head[hl:])
		for j := c.next[f.head]; j >= 0; j = c.next[j] {
			seg := c.in[j][c.offset:]
			c.parts = append(c.parts, seg[c.pay[j]:])
		}
		c.out.Payloads[f.out] = c.parts[first:len(c.parts):len(c.parts)]
	} else {
		dst = c.arena[start : start+size : start+size]
		w := copy(dst, head)
		for j := c.next[f.head]; j >= 0; j = c.next[j] {
			seg := c.in[j][c.offset:]
			w += copy(dst[w:], seg[c.pay[j]:])
		}
	}
	c.used = start + len(dst)

	ip := dst[l2:]
	l4len := size - l4
	proto := uint8(header.TCPProtocolNumber)
	if f.udp {
		proto = header.UDPProtocolNumber
	}
	var ps uint16
	if f.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(f.ipLen-header.IPv6FixedSize))
		ps = checksum.Pseudo(ip[8:24], ip[24:40], proto, uint32(l4len))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(f.ipLen))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip[:header.IPv4MinimumSize], 0))
		ps = checksum.Pseudo(ip[12:16], ip[16:20], proto, uint32(l4len))
	}
	h := header.VirtioNetHdrFields{
		Flags:     header.VirtioNetHdrFlagNeedsCsum,
		HdrLen:    f.hdrLen,
		GSOSize:   f.mss,
		CsumStart: f.l4,
	}
	if f.udp {
		binary.BigEndian.PutUint16(dst[l4+4:], uint16(l4len))
		binary.BigEndian.PutUint16(dst[l4+6:], ps)
		h.GSOType, h.CsumOffset = header.VirtioNetHdrGSOUDPL4, 6
	} else {
		dst[l4+13] |= f.orFlags
		binary.BigEndian.PutUint16(dst[l4+16:], ps)
		h.GSOType, h.CsumOffset = header.VirtioNetHdrGSOTCPv4, 16
		if f.v6 {
			h.GSOType = header.VirtioNetHdrGSOTCPv6
		}
		if dst[l4+13]&tcpCWR != 0 {
			h.GSOType |= header.VirtioNetHdrGSOECN // tcp_gro_complete: SKB_GSO_TCP_ECN
		}
	}
	c.out.Frames[f.out] = c.arena[start-c.offset : start+len(dst) : start+len(dst)]
	c.out.Hdrs[f.out] = h
	c.out.Segs[f.out] = int(f.count)
}
