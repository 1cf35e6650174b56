package header

// ECN codepoints (RFC 3168 §5), the low two bits of the IPv4 TOS octet and
// of the IPv6 Traffic Class.
const (
	ECNNotECT = 0b00 // Not ECN-Capable Transport
	ECNECT1   = 0b01 // ECN Capable Transport, ECT(1)
	ECNECT0   = 0b10 // ECN Capable Transport, ECT(0)
	ECNCE     = 0b11 // Congestion Experienced
	ECNMask   = 0b11
)

// ECNDecapResult is the outcome of ECNDecapsulate.
type ECNDecapResult uint8

const (
	// ECNDecapOK: deliver the inner packet with the returned codepoint.
	ECNDecapOK ECNDecapResult = iota
	// ECNDecapLog: deliver, but the combination is one RFC 6040 marks
	// "(!!!)": a Not-ECT inner packet arrived in an ECT outer header. The
	// kernel logs it when log_ecn_error is set.
	ECNDecapLog
	// ECNDecapDrop: drop the packet. The outer header is CE but the inner
	// packet is Not-ECT, so congestion cannot be signalled (RFC 6040 §4.2).
	// The kernel's vxlan_rcv counts it in rx_frame_errors and rx_errors.
	ECNDecapDrop
)

// ECNEncapsulate returns the TOS/Traffic Class for an outer header built
// from outer (whose DSCP is kept) and the inner packet's TOS/Traffic Class
// inner: the inner ECN codepoint is copied, except that CE becomes ECT(0).
// This is the kernel's INET_ECN_encapsulate (include/net/inet_ecn.h), the
// "compatibility" choice of RFC 6040 §4.1 used by vxlan_xmit_one.
func ECNEncapsulate(outer, inner uint8) uint8 {
	e := inner & ECNMask
	if e == ECNCE {
		e = ECNECT0
	}
	return outer&^ECNMask | e
}

// ECNDecapsulate applies the RFC 6040 §4.2 decapsulation table as the
// kernel's INET_ECN_decapsulate (include/net/inet_ecn.h) does and returns
// the inner TOS/Traffic Class to deliver: __INET_ECN_decapsulate's verdict
// (drop a Not-ECT inner packet under a CE outer header, log one under an
// ECT outer header), then, for an ECN-capable inner packet, CE from a CE
// outer header (INET_ECN_set_ce) or ECT(1) from an ECT(1) outer header
// over an ECT(0) inner one (INET_ECN_set_ect1). Only the ECN bits change.
func ECNDecapsulate(outer, inner uint8) (newInner uint8, res ECNDecapResult) {
	if inner&ECNMask == ECNNotECT {
		switch outer & ECNMask {
		case ECNNotECT:
			return inner, ECNDecapOK
		case ECNCE:
			return inner, ECNDecapDrop
		default:
			return inner, ECNDecapLog
		}
	}
	switch outer & ECNMask {
	case ECNCE:
		inner |= ECNCE
	case ECNECT1:
		if inner&ECNMask == ECNECT0 {
			inner ^= ECNMask // ECT(0) → ECT(1)
		}
	}
	return inner, ECNDecapOK
}
