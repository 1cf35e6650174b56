package gro

// Reason says why a held flow was completed (written out) or why a frame
// bypassed the engine. Each is named after the kernel rule it copies.
type Reason uint8

const (
	// ReasonBatchEnd: the batch ended (napi_complete_done flushes all
	// held packets at the end of a NAPI poll).
	ReasonBatchEnd Reason = iota
	// ReasonBucketFull: a 9th flow was held in the same bucket and this,
	// the oldest, was completed (gro_flush_oldest, MAX_GRO_SKBS = 8).
	ReasonBucketFull
	// ReasonPSHFIN: a segment with PSH or FIN was merged and ended the
	// super-frame, or started a flow and was not held (tcp_gro_receive).
	ReasonPSHFIN
	// ReasonFlags: TCP flags other than CWR, FIN and PSH differ, or the
	// frame carries URG, RST or SYN, which are never merged or held.
	ReasonFlags
	// ReasonCWR: the new segment has CWR set, which always flushes.
	ReasonCWR
	// ReasonWindow: the TCP window differs (the kernel compares the whole
	// flag word, window included).
	ReasonWindow
	// ReasonAck: the acknowledgment number differs.
	ReasonAck
	// ReasonOptions: the TCP header length or option bytes differ
	// (timestamps included).
	ReasonOptions
	// ReasonTTLTOS: IPv4 TTL, TOS or DF, or IPv6 hop limit or traffic
	// class differ (inet_gro_flush, ipv6_gro_flush).
	ReasonTTLTOS
	// ReasonIPID: the IPv4 ID neither increments by the segment count nor
	// stays fixed (inet_gro_flush).
	ReasonIPID
	// ReasonHeader: the Ethernet header (VLAN tags included), the IPv6
	// flow label or the IPv6 extension headers differ.
	ReasonHeader
	// ReasonSeq: the sequence number is not the next expected one
	// (out of order, retransmission or loss).
	ReasonSeq
	// ReasonOversize: the segment is larger than the first one (gso_size).
	ReasonOversize
	// ReasonSizeLimit: merging would make the IP packet larger than 65535
	// bytes (gro_max_size, 64 KiB for encapsulated flows).
	ReasonSizeLimit
	// ReasonSegmentLimit: the super-frame reached 64 segments.
	ReasonSegmentLimit
	// ReasonShortSegment: a segment shorter than gso_size was merged and
	// ended the super-frame.
	ReasonShortSegment
	// ReasonBadChecksum: a TCP or UDP checksum did not verify; the frame
	// is written untouched and the kernel will drop it.
	ReasonBadChecksum
	// ReasonNoBuffer: the arena had no room for a larger super-frame.
	ReasonNoBuffer
	// ReasonNoPayload: a segment without payload (a pure ACK) is never
	// held or merged.
	ReasonNoPayload
	// ReasonNotGROable: the frame is not TCP or UDP over IPv4/IPv6 the
	// engine can merge: another protocol, IPv4 options, a fragment, a bad
	// IPv4 header checksum, Ethernet padding, a truncated header, more than
	// two VLAN tags, UDP when UDP coalescing is off.
	ReasonNotGROable
	// ReasonWhole: the frame is a super-frame already ([Meta].Whole). It
	// is written whole, and the held flow it belongs to before it.
	ReasonWhole

	// NumReasons is the number of reasons, for sizing arrays.
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonBatchEnd:     "batch-end",
	ReasonBucketFull:   "bucket-full",
	ReasonPSHFIN:       "psh-fin",
	ReasonFlags:        "flags",
	ReasonCWR:          "cwr",
	ReasonWindow:       "window",
	ReasonAck:          "ack",
	ReasonOptions:      "options",
	ReasonTTLTOS:       "ttl-tos",
	ReasonIPID:         "ip-id",
	ReasonHeader:       "header",
	ReasonSeq:          "seq",
	ReasonOversize:     "oversize",
	ReasonSizeLimit:    "size-limit",
	ReasonSegmentLimit: "segment-limit",
	ReasonShortSegment: "short-segment",
	ReasonBadChecksum:  "bad-checksum",
	ReasonNoBuffer:     "no-buffer",
	ReasonNoPayload:    "no-payload",
	ReasonNotGROable:   "not-groable",
	ReasonWhole:        "whole",
}

// String returns the reason's name as the CLI prints it ("psh-fin").
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// NumSegmentBuckets is the number of buckets in Stats.SegmentsHist.
const NumSegmentBuckets = 6

// Stats counts what a Coalescer did. It is owned by the Coalescer's
// goroutine; read it with [Coalescer.Stats] from that goroutine and sum
// across workers.
type Stats struct {
	// FramesIn counts input frames.
	FramesIn uint64
	// FramesOut counts output frames (untouched frames and super-frames).
	FramesOut uint64
	// SuperFrames counts output frames built from two or more segments.
	SuperFrames uint64
	// SegmentsCoalesced counts input frames that went into super-frames.
	SegmentsCoalesced uint64
	// SegmentsHist counts super-frames by segment count: 2, 3–4, 5–8,
	// 9–16, 17–32, 33–64.
	SegmentsHist [NumSegmentBuckets]uint64
	// Flushes counts held flows completed, by the reason that completed
	// them. A flow completed with one segment is written untouched.
	Flushes [NumReasons]uint64
	// Bypassed counts frames written untouched without ever being held,
	// by the reason they were not.
	Bypassed [NumReasons]uint64
}

// histBucket maps a segment count (2..64) to its SegmentsHist index.
func histBucket(n int) int {
	switch {
	case n <= 2:
		return 0
	case n <= 4:
		return 1
	case n <= 8:
		return 2
	case n <= 16:
		return 3
	case n <= 32:
		return 4
	}
	return 5
}
