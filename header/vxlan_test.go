package header_test

import (
	"bytes"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestVXLANGolden(t *testing.T) {
	tests := []struct {
		name   string
		fields header.VXLANFields
		wire   string
		bits   uint64
	}{
		{"RFC 7348 header, VNI 42", header.VXLANFields{VNI: 42},
			"08 00 00 00  00 00 2a 00", 0x08000000_00002a00},
		{"largest VNI", header.VXLANFields{VNI: header.MaxVNI},
			"08 00 00 00  ff ff ff 00", 0x08000000_ffffff00},
		// The ip-link(8) example "--set-mark 0x800FF": A bit and policy 0xff.
		{"GBP, policy applied, group 0xff", header.VXLANFields{VNI: 10, GBP: true, GBPPolicyApplied: true, GroupPolicyID: 0xff},
			"88 08 00 ff  00 00 0a 00", 0x880800ff_00000a00},
		{"GBP, don't learn, group 0x1234", header.VXLANFields{VNI: 10, GBP: true, GBPDontLearn: true, GroupPolicyID: 0x1234},
			"88 40 12 34  00 00 0a 00", 0x88401234_00000a00},
		// Inner Ethernet 14 + IPv4 20: TCP starts at 34, encoded 17.
		{"RCO, TCP at 34", header.VXLANFields{VNI: 7, RCO: true, RCOStart: 34},
			"08 20 00 00  00 00 07 11", 0x08200000_00000711},
		{"RCO, UDP at 54", header.VXLANFields{VNI: 7, RCO: true, RCOStart: 54, RCOUDP: true},
			"08 20 00 00  00 00 07 9b", 0x08200000_0000079b},
		{"GBP and RCO together", header.VXLANFields{VNI: 1, GBP: true, GroupPolicyID: 2, RCO: true, RCOStart: 254, RCOUDP: true},
			"88 20 00 02  00 00 01 ff", 0x88200002_000001ff},
		{"I flag omitted", header.VXLANFields{VNI: 5, OmitIFlag: true},
			"00 00 00 00  00 00 05 00", 0x00000000_00000500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.wire)
			b := bytes.Repeat([]byte{0xff}, header.VXLANSize)
			v := header.VXLAN(b)
			v.Encode(&tt.fields)
			if !bytes.Equal(b, want) {
				t.Fatalf("Encode = % x, want % x", b, want)
			}
			if v.Uint64() != tt.bits || v.Word0() != uint32(tt.bits>>32) || v.Word1() != uint32(tt.bits) {
				t.Errorf("Uint64 = %#016x, want %#016x", v.Uint64(), tt.bits)
			}
			if got := v.Fields(); got != tt.fields {
				t.Errorf("Fields() = %+v, want %+v", got, tt.fields)
			}
			if v.Flags() != want[0] {
				t.Errorf("Flags = %#x", v.Flags())
			}
		})
	}
}

// TestVXLANDefaultReservedBitsMatchSelftest: the kernel's default
// reserved_bits is ~used_bits, which vxlan_reserved.sh spells
// 0xf7ffffff000000ff for a plain device.
func TestVXLANDefaultReservedBitsMatchSelftest(t *testing.T) {
	if got := ^header.VXLANUsedBitsDefault; got != 0xf7ffffff000000ff {
		t.Errorf("^VXLANUsedBitsDefault = %#016x, want 0xf7ffffff000000ff", got)
	}
	// VXLAN_GBP_USED_BITS = VXLAN_HF_GBP | 0xFFFFFF (in the first word).
	if header.VXLANUsedBitsGBP != 0x80ffffff_00000000 {
		t.Errorf("VXLANUsedBitsGBP = %#016x", header.VXLANUsedBitsGBP)
	}
	// VXLAN_GPE_USED_BITS = VER | NP | OAM | 0xff.
	if header.VXLANUsedBitsGPE != 0x350000ff_00000000 {
		t.Errorf("VXLANUsedBitsGPE = %#016x", header.VXLANUsedBitsGPE)
	}
	// remcsumrx: VXLAN_HF_RCO and ~VXLAN_VNI_MASK (the last byte).
	if header.VXLANUsedBitsRCO != 0x00200000_000000ff {
		t.Errorf("VXLANUsedBitsRCO = %#016x", header.VXLANUsedBitsRCO)
	}
}

// TestVXLANReservedBitsDropRule applies the receive rule of vxlan_rcv to
// headers with one stray bit each: a bit outside the enabled features'
// used bits means drop, including the GPE B bit which Linux never claims.
func TestVXLANReservedBitsDropRule(t *testing.T) {
	reserved := func(used uint64) uint64 { return ^used }
	tests := []struct {
		name string
		wire string
		used uint64
		drop bool
	}{
		{"plain header", "08 00 00 00 00 00 01 00", header.VXLANUsedBitsDefault, false},
		{"R bit in flags", "0c 00 00 00 00 00 01 00", header.VXLANUsedBitsDefault, true},
		{"reserved low byte", "08 00 00 00 00 00 01 01", header.VXLANUsedBitsDefault, true},
		{"GBP header on plain device", "88 00 00 01 00 00 01 00", header.VXLANUsedBitsDefault, true},
		{"GBP header on gbp device", "88 48 00 01 00 00 01 00", header.VXLANUsedBitsDefault | header.VXLANUsedBitsGBP, false},
		{"RCO on plain device", "08 20 00 00 00 00 01 11", header.VXLANUsedBitsDefault, true},
		{"RCO on remcsumrx device", "08 20 00 00 00 00 01 11", header.VXLANUsedBitsDefault | header.VXLANUsedBitsRCO, false},
		{"GPE header on gpe device", "0c 00 00 03 00 00 01 00", header.VXLANUsedBitsDefault | header.VXLANUsedBitsGPE, false},
		{"GPE B bit is never claimed", "0e 00 00 03 00 00 01 00", header.VXLANUsedBitsDefault | header.VXLANUsedBitsGPE, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := header.VXLAN(unhex(t, tt.wire))
			if got := v.Uint64()&reserved(tt.used) != 0; got != tt.drop {
				t.Errorf("drop = %v, want %v (header %#016x)", got, tt.drop, v.Uint64())
			}
		})
	}
}

func TestVXLANSetters(t *testing.T) {
	v := header.VXLAN(make([]byte, header.VXLANSize))
	v.Encode(&header.VXLANFields{VNI: 1, RCO: true, RCOStart: 34})
	v.SetVNI(header.MaxVNI + 1 + 99) // masked to 24 bits, last byte kept
	if v.VNI() != 99 || v.RCOStart() != 34 {
		t.Errorf("SetVNI: VNI %d RCOStart %d", v.VNI(), v.RCOStart())
	}
	v.SetGBP(true, false, 0xabcd) // keeps I and C
	if !v.IFlag() || !v.RCO() || !v.GBP() || !v.GBPDontLearn() || v.GBPPolicyApplied() || v.GroupPolicyID() != 0xabcd {
		t.Errorf("SetGBP: % x", []byte(v))
	}
	if v.GBPMark() != 0x40abcd {
		t.Errorf("GBPMark = %#x, want D<<22 | 0xabcd", v.GBPMark())
	}
	v.SetGBP(false, true, 1)
	if v.GBPMark() != 0x80001 {
		t.Errorf("GBPMark = %#x, want A<<19 | 1", v.GBPMark())
	}
	if v.RCOChecksumOffset() != 34+16 {
		t.Errorf("RCOChecksumOffset (TCP) = %d", v.RCOChecksumOffset())
	}
	v.SetRCO(40, true)
	if v.RCOChecksumOffset() != 40+6 || !v.RCOUDP() {
		t.Errorf("RCOChecksumOffset (UDP) = %d", v.RCOChecksumOffset())
	}
	v.SetIFlag(false)
	if v.IFlag() || v.Flags() != 0x80 {
		t.Errorf("SetIFlag(false): flags %#x", v.Flags())
	}
	v.SetUint64(0x08000000_00000100)
	if v.VNI() != 1 || v.GBP() || v.RCO() {
		t.Errorf("SetUint64: % x", []byte(v))
	}
	v.SetWord0(header.VXLANFlagVNI | header.VXLANFlagGBP)
	v.SetWord1(0x00002a00)
	if !v.GBP() || v.VNI() != 42 {
		t.Errorf("SetWord0/1: % x", []byte(v))
	}
	v.SetFlags(0x08)
	if v.GBP() {
		t.Error("SetFlags did not clear G")
	}
}

func TestVXLANGPE(t *testing.T) {
	tests := []struct {
		name   string
		fields header.VXLANGPEFields
		wire   string
	}{
		{"Ethernet payload", header.VXLANGPEFields{VNI: 100, NextProtocol: header.VXLANGPENextProtocolEthernet},
			"0c 00 00 03  00 00 64 00"},
		{"IPv6 payload, version 1, OAM and BUM", header.VXLANGPEFields{Version: 1, BUM: true, OAM: true, VNI: 1, NextProtocol: header.VXLANGPENextProtocolIPv6},
			"1f 00 00 02  00 00 01 00"},
		{"P flag omitted", header.VXLANGPEFields{OmitPFlag: true, VNI: 2, NextProtocol: header.VXLANGPENextProtocolIPv4},
			"08 00 00 01  00 00 02 00"},
		{"I flag omitted", header.VXLANGPEFields{OmitIFlag: true, NextProtocol: header.VXLANGPENextProtocolNSH},
			"04 00 00 04  00 00 00 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.wire)
			b := bytes.Repeat([]byte{0xee}, header.VXLANSize)
			g := header.VXLANGPE(b)
			g.Encode(&tt.fields)
			if !bytes.Equal(b, want) {
				t.Fatalf("Encode = % x, want % x", b, want)
			}
			if got := g.Fields(); got != tt.fields {
				t.Errorf("Fields() = %+v, want %+v", got, tt.fields)
			}
			if g.Flags() != want[0] || g.Uint64()>>56 != uint64(want[0]) {
				t.Errorf("Flags = %#x", g.Flags())
			}
		})
	}
	g := header.VXLANGPE(make([]byte, 8))
	g.SetVNI(77)
	g.SetNextProtocol(header.VXLANGPENextProtocolMPLS)
	if g.VNI() != 77 || g.NextProtocol() != 5 || !g.IsValid() {
		t.Errorf("setters: % x", []byte(g))
	}
}

// TestVXLANGPEKernelParseRules mirrors vxlan_parse_gpe_proto: P must be
// set, Ver must be 0, O must be clear.
func TestVXLANGPEKernelParseRules(t *testing.T) {
	accept := func(g header.VXLANGPE) bool { return g.PFlag() && g.Version() == 0 && !g.OAM() }
	for _, tt := range []struct {
		wire string
		want bool
	}{
		{"0c 00 00 03 00 00 01 00", true},
		{"08 00 00 03 00 00 01 00", false}, // no P
		{"1c 00 00 03 00 00 01 00", false}, // Ver 1
		{"0d 00 00 03 00 00 01 00", false}, // O
	} {
		if got := accept(header.VXLANGPE(unhex(t, tt.wire))); got != tt.want {
			t.Errorf("%s: accept = %v, want %v", tt.wire, got, tt.want)
		}
	}
}

func TestVirtioNetHdr(t *testing.T) {
	// A TSO super-frame as a TAP hands it over: IPv4/TCP behind 14 bytes of
	// Ethernet, MSS 1448, checksum at 34+16. Fields are little-endian.
	wire12 := unhex(t, `
		01 01   // flags NEEDS_CSUM, gso_type TCPV4
		42 00   // hdr_len 66
		a8 05   // gso_size 1448
		22 00   // csum_start 34
		10 00   // csum_offset 16
		01 00   // num_buffers 1
	`)
	want := header.VirtioNetHdrFields{
		Flags:      header.VirtioNetHdrFlagNeedsCsum,
		GSOType:    header.VirtioNetHdrGSOTCPv4,
		HdrLen:     66,
		GSOSize:    1448,
		CsumStart:  34,
		CsumOffset: 16,
		NumBuffers: 1,
	}
	v := header.VirtioNetHdr(wire12)
	if !v.IsValid() {
		t.Fatal("IsValid = false")
	}
	if got := v.Fields(); got != want {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	out := make([]byte, header.VirtioNetHdrMrgRxbufSize)
	header.VirtioNetHdr(out).Encode(&want)
	if !bytes.Equal(out, wire12) {
		t.Errorf("Encode = % x, want % x", out, wire12)
	}

	v10 := header.VirtioNetHdr(bytes.Clone(wire12[:10]))
	want10 := want
	want10.NumBuffers = 0
	if !v10.IsValid() || v10.Fields() != want10 {
		t.Errorf("10-byte form: %+v", v10.Fields())
	}
	out10 := make([]byte, header.VirtioNetHdrSize)
	header.VirtioNetHdr(out10).Encode(&want) // NumBuffers is not written
	if !bytes.Equal(out10, wire12[:10]) {
		t.Errorf("10-byte Encode = % x", out10)
	}
	for _, n := range []int{0, 9, 11, 13} {
		if header.VirtioNetHdr(make([]byte, n)).IsValid() {
			t.Errorf("IsValid accepted %d bytes", n)
		}
	}
	v.SetGSOType(header.VirtioNetHdrGSOTCPv6 | header.VirtioNetHdrGSOECN)
	v.SetNumBuffers(3)
	if v.GSOType() != 0x84 || v.NumBuffers() != 3 || v[10] != 3 {
		t.Errorf("setters: % x", []byte(v))
	}
}
