package gro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vtepd/vtep/checksum"
	"github.com/vtepd/vtep/gso/gsotest"
)

// This file holds a slow, plainly written model of the kernel's GRO rules
// (as documented in the package comment, deviations included), decoding
// frames with gopacket instead of the engine's offsets, and a randomized
// test that compares the Coalescer's grouping with the model's.

// mframe is one frame as the model sees it.
type mframe struct {
	keyed, cand bool
	key         string // context, addresses, protocol, ports
	l2          []byte
	udp, v6     bool
	ttl, tos    uint8
	df          bool
	id          uint16
	flowLabel   uint32
	ext         []byte // IPv6 extension headers (none generated)
	seq, ack    uint32
	flags       uint8
	window      uint16
	dataOff     uint8
	reserved    uint8
	opts        []byte
	payload     int
	csumOK      bool
	ipLen       int
}

func decodeModel(fr []byte, m Meta, udpOn bool) mframe {
	var f mframe
	p := gopacket.NewPacket(fr, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		return f
	}
	// Take the layers in order: gopacket also guesses at what the UDP
	// payload is, and those guesses must not be mistaken for headers.
	tags := 0
	var netLayer, l4Layer gopacket.Layer
	for _, l := range p.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeDot1Q:
			if netLayer == nil {
				tags++
			}
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			if netLayer == nil {
				netLayer = l
			}
		case layers.LayerTypeTCP, layers.LayerTypeUDP:
			if l4Layer == nil && netLayer != nil {
				l4Layer = l
			}
		}
	}
	if tags > 2 {
		return f
	}
	l2 := 14 + 4*tags
	f.l2 = fr[:l2]
	var src, dst []byte
	var ipPayloadLen int
	if ip4, ok := netLayer.(*layers.IPv4); ok {
		if ip4.Flags&layers.IPv4MoreFragments != 0 && ip4.FragOffset == 0 && ip4.IHL == 5 {
			// first fragment: keyed but not a candidate
		} else if ip4.FragOffset != 0 {
			return f
		}
		src, dst = ip4.SrcIP.To4(), ip4.DstIP.To4()
		f.ttl, f.tos, f.id = ip4.TTL, ip4.TOS, ip4.Id
		f.df = ip4.Flags&layers.IPv4DontFragment != 0
		f.ipLen = int(ip4.Length)
		ipPayloadLen = int(ip4.Length) - int(ip4.IHL)*4
		f.cand = ip4.IHL == 5 && ip4.Flags&layers.IPv4MoreFragments == 0 && int(ip4.Length) == len(fr)-l2 &&
			checksum.Sum(fr[l2:l2+20], 0) == 0xffff
	} else if ip6, ok := netLayer.(*layers.IPv6); ok {
		f.v6 = true
		src, dst = ip6.SrcIP.To16(), ip6.DstIP.To16()
		f.ttl, f.tos, f.flowLabel = ip6.HopLimit, ip6.TrafficClass, ip6.FlowLabel
		f.ipLen = 40 + int(ip6.Length)
		ipPayloadLen = int(ip6.Length)
		f.cand = int(ip6.Length) == len(fr)-l2-40
	} else {
		return f
	}
	var sport, dport uint16
	var proto uint8
	var l4 []byte
	if tcp, ok := l4Layer.(*layers.TCP); ok {
		proto = 6
		sport, dport = uint16(tcp.SrcPort), uint16(tcp.DstPort)
		f.seq, f.ack, f.window, f.dataOff = tcp.Seq, tcp.Ack, tcp.Window, tcp.DataOffset
		f.opts = tcp.Contents[20:]
		f.flags = tcp.Contents[13]
		f.reserved = tcp.Contents[12] & 0x0f
		f.payload = ipPayloadLen - int(tcp.DataOffset)*4
		l4 = fr[l2+f.ipLen-ipPayloadLen : l2+f.ipLen]
	} else if udp, ok := l4Layer.(*layers.UDP); ok {
		proto = 17
		f.udp = true
		sport, dport = uint16(udp.SrcPort), uint16(udp.DstPort)
		f.payload = int(udp.Length) - 8
		l4 = fr[l2+f.ipLen-ipPayloadLen : l2+f.ipLen]
		f.cand = f.cand && udpOn && int(udp.Length) == ipPayloadLen && !(f.v6 && udp.Checksum == 0)
	} else {
		return f
	}
	f.keyed = true
	f.key = fmt.Sprint(m.Context, src, dst, proto, sport, dport)
	{
		ps := checksum.Pseudo(src, dst, proto, uint32(len(l4)))
		f.csumOK = m.Verified || checksum.Sum(l4, ps) == 0xffff || (f.udp && !f.v6 && udp0(l4))
	}
	return f
}

func udp0(l4 []byte) bool { return binary.BigEndian.Uint16(l4[6:]) == 0 }

type mflow struct {
	key     string
	bucket  int
	age     int
	members []int
	first   mframe
	nextSeq uint32
	ipLen   int
	fixedID bool
	ended   bool
}

// model runs the GRO rules over frames and returns the groups of input
// indices in output order.
func model(frames [][]byte, meta []Meta, udpOn bool) [][]int {
	var groups [][]int // completed in completion order; sorted at the end
	var held []*mflow
	age := 0
	closeFlow := func(f *mflow) {
		groups = append(groups, f.members)
		held = slices.DeleteFunc(held, func(h *mflow) bool { return h == f })
	}
	for i, fr := range frames {
		var m Meta
		if meta != nil {
			m = meta[i]
		}
		f := decodeModel(fr, m, udpOn)
		if !f.keyed {
			groups = append(groups, []int{i})
			continue
		}
		var h *mflow
		for _, x := range held {
			if x.key == f.key {
				h = x
			}
		}
		if h != nil {
			a := h.first
			idOK := true
			if !f.v6 {
				off := f.id - a.id
				if len(h.members) == 1 && f.df && off == 0 {
					h.fixedID = true
				}
				if h.fixedID && f.df {
					idOK = off == 0
				} else {
					idOK = off == uint16(len(h.members))
				}
			}
			// Every rule but the checksums; the engine checks those last,
			// the new segment's before the held head's (verified lazily).
			ok := f.cand && bytes.Equal(f.l2, a.l2) && f.ttl == a.ttl && f.tos == a.tos && f.df == a.df &&
				f.flowLabel == a.flowLabel && bytes.Equal(f.ext, a.ext) && idOK &&
				f.payload > 0 && f.payload <= a.payload && h.ipLen+f.payload <= MaxIPLen && len(h.members) < MaxSegments
			if ok && !f.udp {
				ok = f.flags&0x80 == 0 && (f.flags^a.flags)&^0x89 == 0 && f.dataOff == a.dataOff && f.reserved == a.reserved &&
					f.window == a.window && f.ack == a.ack && bytes.Equal(f.opts, a.opts) && f.seq == h.nextSeq
			}
			if ok && f.csumOK && a.csumOK {
				h.members = append(h.members, i)
				h.ipLen += f.payload
				h.nextSeq += uint32(f.payload)
				if f.payload < a.payload || (!f.udp && f.flags&0x09 != 0) || len(h.members) == MaxSegments {
					closeFlow(h)
				}
				continue
			}
			closeFlow(h)
			if ok && !f.csumOK {
				groups = append(groups, []int{i})
				continue
			}
		}
		if !f.cand || f.payload == 0 || (!f.udp && f.flags&0x2f != 0) {
			groups = append(groups, []int{i})
			continue
		}
		// Bucket by the engine's hash: eviction order depends on it.
		var p parsed
		(&Coalescer{cfg: Config{UDP: udpOn}}).parse(fr, m.Context, &p)
		b := p.key.bucket()
		var inBucket []*mflow
		for _, x := range held {
			if x.bucket == b {
				inBucket = append(inBucket, x)
			}
		}
		if len(inBucket) == FlowsPerBucket {
			oldest := inBucket[0]
			for _, x := range inBucket {
				if x.age < oldest.age {
					oldest = x
				}
			}
			closeFlow(oldest)
		}
		age++
		held = append(held, &mflow{key: f.key, bucket: b, age: age, members: []int{i}, first: f,
			nextSeq: f.seq + uint32(f.payload), ipLen: f.ipLen})
	}
	for len(held) > 0 {
		closeFlow(held[0])
	}
	// An output frame takes the position of its first segment.
	slices.SortFunc(groups, func(a, b []int) int { return a[0] - b[0] })
	return groups
}

// randomBatch builds a batch from a few flows with random disturbances.
func randomBatch(r *rand.Rand, udpOn bool) ([][]byte, []Meta) {
	type rflow struct {
		g       *gen
		fixedID bool
		mss     int
	}
	nflows := 1 + r.IntN(6)
	var flows []*rflow
	for k := range nflows {
		f := gsotest.Frame{SrcPort: uint16(1000 + k), Seq: r.Uint32(), Ack: r.Uint32(), ID: uint16(r.Uint32())}
		if r.IntN(3) == 0 {
			f.IPv6 = true
			f.FlowLabel = r.Uint32() & 0xfffff
		}
		if r.IntN(4) == 0 {
			f.VLANs = []uint32{0x8100_0000 | uint32(r.IntN(4096))}
		}
		if r.IntN(2) == 0 {
			f.TCPOptions = tsOpt
		}
		if udpOn && r.IntN(3) == 0 {
			f.UDP = true
		}
		rf := &rflow{g: newGen(f), mss: []int{100, 536, 1000, 1448}[r.IntN(4)]}
		if !f.IPv6 && r.IntN(3) == 0 {
			rf.g.f.DF = true
			rf.fixedID = r.IntN(2) == 0
		}
		flows = append(flows, rf)
	}
	n := 1 + r.IntN(128)
	var frames [][]byte
	var meta []Meta
	for range n {
		rf := flows[r.IntN(len(flows))]
		g := rf.g
		size := rf.mss
		var mods []func(*gsotest.Frame)
		if rf.fixedID {
			id := g.f.ID
			mods = append(mods, withID(id))
		}
		switch x := r.IntN(100); {
		case x < 4:
			g.seq += uint32(rf.mss) // loss
		case x < 7:
			g.seq -= uint32(rf.mss) // retransmission
		case x < 10:
			mods = append(mods, withFlags(gsotest.ACK|gsotest.PSH))
		case x < 12:
			mods = append(mods, withFlags(gsotest.ACK|gsotest.FIN))
		case x < 14:
			mods = append(mods, withFlags([]uint8{gsotest.SYN, gsotest.RST, gsotest.ACK | gsotest.URG, gsotest.ACK | gsotest.ECE}[r.IntN(4)]))
		case x < 17:
			mods = append(mods, withFlags(gsotest.ACK|gsotest.CWR))
		case x < 19:
			g.f.TTL = uint8(1 + r.IntN(3))
		case x < 21:
			g.f.Ack++
		case x < 23:
			g.f.Window = uint16(1 + r.IntN(3))
		case x < 25:
			mods = append(mods, func(f *gsotest.Frame) { f.TCPOptions = []byte{1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2} })
		case x < 29:
			size = 1 + r.IntN(rf.mss)
		case x < 31:
			size = rf.mss + 1 + r.IntN(100)
		case x < 34:
			mods = append(mods, badCsum)
		case x < 36:
			size = 0
		case x < 38:
			g.id += uint16(1 + r.IntN(3))
		case x < 40:
			mods = append(mods, func(f *gsotest.Frame) { f.Padding = 1 + r.IntN(10) })
		case x < 42:
			frames = append(frames, append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6}, make([]byte, 28)...))
			meta = append(meta, Meta{})
			continue
		case x < 44:
			g.f.TOS = uint8(r.IntN(3)) << 2
		}
		frames = append(frames, g.seg(size, mods...))
		meta = append(meta, Meta{Verified: r.IntN(4) == 0})
	}
	return frames, meta
}

// TestCoalesceMatchesModel compares the Coalescer with the model over
// random batches.
func TestCoalesceMatchesModel(t *testing.T) {
	seed := uint64(1)
	r := rand.New(rand.NewPCG(seed, 2))
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	cs := [2]*Coalescer{New(Config{}), New(Config{UDP: true})}
	vs := [2]*Coalescer{New(Config{Vectored: true}), New(Config{UDP: true, Vectored: true})}
	for it := range iters {
		udpOn := it%2 == 1
		frames, meta := randomBatch(r, udpOn)
		bufs := bufsOf(frames)
		out, err := cs[it%2].Coalesce(bufs, testOffset, meta)
		if err != nil {
			t.Fatal(err)
		}
		want := model(frames, meta, udpOn)
		var got [][]int
		for j := range out.Frames {
			got = append(got, []int{out.Index[j], out.Segs[j]})
		}
		var wantShape [][]int
		for _, g := range want {
			wantShape = append(wantShape, []int{g[0], len(g)})
		}
		if fmt.Sprint(got) != fmt.Sprint(wantShape) {
			t.Fatalf("iteration %d (udp=%v): engine %v\nmodel %v", it, udpOn, got, wantShape)
		}
		checkOutput(t, bufs, out, want, true, true)
		checkVectored(t, vs[it%2], bufs, meta, out)
		if t.Failed() {
			t.Fatalf("iteration %d", it)
		}
	}
	// The comparison is only worth something if batches coalesce and also
	// flush for many reasons.
	var st Stats
	for _, c := range cs {
		s := c.Stats()
		st.SuperFrames += s.SuperFrames
		for r := range NumReasons {
			st.Flushes[r] += s.Flushes[r]
		}
	}
	if st.SuperFrames < uint64(iters) {
		t.Errorf("only %d super-frames in %d batches", st.SuperFrames, iters)
	}
	for _, r := range []Reason{ReasonBatchEnd, ReasonPSHFIN, ReasonFlags, ReasonCWR, ReasonWindow, ReasonAck, ReasonOptions,
		ReasonTTLTOS, ReasonIPID, ReasonSeq, ReasonOversize, ReasonShortSegment, ReasonBadChecksum, ReasonNotGROable, ReasonNoPayload} {
		if st.Flushes[r] == 0 {
			t.Errorf("no flush for reason %v in the random batches", r)
		}
	}
	t.Logf("%d super-frames; flushes %v", st.SuperFrames, st.Flushes)
}
