package main

import (
	"strings"
	"sync"

	"github.com/vtepd/vtep/control"
	"github.com/vtepd/vtep/gro"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// ioCounterer is an optional interface of a system: the counters of the
// I/O layer under a link (its TAP and its UDP sockets), appended to the
// datapath's in `vtep -s link show`. The in-memory system has none.
type ioCounterer interface {
	ioCounters(dev tap.Device, keys []vtep.SocketKey) []control.Counter
}

// ioCounters returns the counters of dev, summed over its queues, then
// those of the UDP sockets cfg uses, summed over the sockets sharing each
// port. The sockets are shared by every up link with the same port and
// receive flags (the kernel's vxlan_sock), so their counters are too. A
// link that is down has no sockets: its UDP counters read zero, and a
// socket opened again when it comes up counts from zero.
func (s *linuxSystem) ioCounters(dev tap.Device, keys []vtep.SocketKey) []control.Counter {
	var ts tap.StatsSnapshot
	var gs gro.Stats
	if mq, ok := dev.(multiQueueTAP); ok {
		ts = mq.Stats()
		for i := range mq.NumQueues() {
			addGROStats(&gs, mq.Queue(i).GROStats())
		}
	}
	var us underlay.StatsSnapshot
	for _, k := range keys {
		for _, c := range s.socks.get(k) {
			addUDPStats(&us, c.Stats())
		}
	}
	out := make([]control.Counter, 0, numTAPCounters+numUDPCounters)
	out = appendTAPCounters(out, ts, gs)
	return appendUDPCounters(out, us)
}

// sockRegistry remembers the UDP sockets the opener opened for each
// SocketKey, for their counters. The datapath opens a key's sockets
// workers at a time and, if one fails, closes those it opened; the
// registry follows: a key's list is its current set of sockets.
type sockRegistry struct {
	mu    sync.Mutex
	conns map[vtep.SocketKey][]*underlay.LinuxConn
}

// opened records the outcome of opening one of the workers sockets for k.
func (r *sockRegistry) opened(k vtep.SocketKey, workers int, c *underlay.LinuxConn, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[vtep.SocketKey][]*underlay.LinuxConn{}
	}
	if err != nil {
		delete(r.conns, k) // the datapath closes the ones already opened
		return
	}
	cs := r.conns[k]
	if len(cs) >= max(workers, 1) {
		cs = nil // a full set was released and the key is opened again
	}
	r.conns[k] = append(cs, c)
}

func (r *sockRegistry) get(k vtep.SocketKey) []*underlay.LinuxConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[k]
}

// The I/O counters, in the order they are shown.
const (
	numTAPCounters = 9 + 4 + gro.NumSegmentBuckets + 2*int(gro.NumReasons)
	numUDPCounters = 10
)

// segmentBucketNames name gro.Stats.SegmentsHist's buckets.
var segmentBucketNames = [gro.NumSegmentBuckets]string{
	"tap_gro_segs_2", "tap_gro_segs_3_4", "tap_gro_segs_5_8",
	"tap_gro_segs_9_16", "tap_gro_segs_17_32", "tap_gro_segs_33_64",
}

// Names of the per-reason GRO counters: "tap_gro_flush_batch_end",
// "tap_gro_bypass_not_groable".
var groFlushNames, groBypassNames = func() (f, b [gro.NumReasons]string) {
	for r := range gro.NumReasons {
		n := strings.ReplaceAll(r.String(), "-", "_")
		f[r], b[r] = "tap_gro_flush_"+n, "tap_gro_bypass_"+n
	}
	return f, b
}()

// appendTAPCounters appends the TAP's counters: frames read from the
// kernel (tap_read_*: the overlay's transmit side, GSO super-frames
// segmented), frames written to it (tap_write_*: the receive side), and
// the GRO engine's, which coalesces what is written.
func appendTAPCounters(out []control.Counter, s tap.StatsSnapshot, g gro.Stats) []control.Counter {
	out = append(out,
		control.Counter{Name: "tap_read_frames", Value: s.ReadFrames},
		control.Counter{Name: "tap_read_super_frames", Value: s.ReadSuperFrames},
		control.Counter{Name: "tap_read_segments", Value: s.ReadSegments},
		control.Counter{Name: "tap_read_checksums", Value: s.ReadChecksums},
		control.Counter{Name: "tap_read_dropped", Value: s.ReadDropped},
		control.Counter{Name: "tap_write_frames", Value: s.WriteFrames},
		control.Counter{Name: "tap_write_super_frames", Value: s.WriteSuperFrames},
		control.Counter{Name: "tap_write_segments", Value: s.WriteSegments},
		control.Counter{Name: "tap_write_errors", Value: s.WriteErrors},
		control.Counter{Name: "tap_gro_frames_in", Value: g.FramesIn},
		control.Counter{Name: "tap_gro_frames_out", Value: g.FramesOut},
		control.Counter{Name: "tap_gro_super_frames", Value: g.SuperFrames},
		control.Counter{Name: "tap_gro_segments_coalesced", Value: g.SegmentsCoalesced},
	)
	for i, v := range g.SegmentsHist {
		out = append(out, control.Counter{Name: segmentBucketNames[i], Value: v})
	}
	for i, v := range g.Flushes {
		out = append(out, control.Counter{Name: groFlushNames[i], Value: v})
	}
	for i, v := range g.Bypassed {
		out = append(out, control.Counter{Name: groBypassNames[i], Value: v})
	}
	return out
}

// appendUDPCounters appends the underlay sockets' counters.
func appendUDPCounters(out []control.Counter, s underlay.StatsSnapshot) []control.Counter {
	return append(out,
		control.Counter{Name: "udp_rx_packets", Value: s.RxPackets},
		control.Counter{Name: "udp_gro_splits", Value: s.RxCoalesced},
		control.Counter{Name: "udp_rx_truncated", Value: s.RxTruncated},
		control.Counter{Name: "udp_tx_packets", Value: s.TxPackets},
		control.Counter{Name: "udp_gso_sends", Value: s.TxGSOSends},
		control.Counter{Name: "udp_raw_fallback_sends", Value: s.TxFallback},
		control.Counter{Name: "udp_tx_malformed", Value: s.TxMalformed},
		control.Counter{Name: "udp_tx_errors", Value: s.TxErrors},
		control.Counter{Name: "udp_flow_sockets", Value: s.TxFlowSockets},
		control.Counter{Name: "udp_flow_socket_failures", Value: s.TxFlowSocketFailures},
	)
}

func addGROStats(s *gro.Stats, o gro.Stats) {
	s.FramesIn += o.FramesIn
	s.FramesOut += o.FramesOut
	s.SuperFrames += o.SuperFrames
	s.SegmentsCoalesced += o.SegmentsCoalesced
	for i := range s.SegmentsHist {
		s.SegmentsHist[i] += o.SegmentsHist[i]
	}
	for i := range s.Flushes {
		s.Flushes[i] += o.Flushes[i]
		s.Bypassed[i] += o.Bypassed[i]
	}
}

func addUDPStats(s *underlay.StatsSnapshot, o underlay.StatsSnapshot) {
	s.RxPackets += o.RxPackets
	s.RxCoalesced += o.RxCoalesced
	s.RxTruncated += o.RxTruncated
	s.TxPackets += o.TxPackets
	s.TxGSOSends += o.TxGSOSends
	s.TxFallback += o.TxFallback
	s.TxMalformed += o.TxMalformed
	s.TxErrors += o.TxErrors
	s.TxFlowSockets += o.TxFlowSockets
	s.TxFlowSocketFailures += o.TxFlowSocketFailures
}
