package header_test

import (
	"bytes"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestEthernetPayloadOffset(t *testing.T) {
	const macs = "ff ff ff ff ff ff  02 00 00 00 00 01 // broadcast from 02:..:01\n"
	tests := []struct {
		name     string
		frame    string
		wantType uint16
		wantOff  int
		wantTags int
		ok       bool
	}{
		{"untagged IPv4", macs + "08 00  45", header.EtherTypeIPv4, 14, 0, true},
		{"untagged ARP, no payload", macs + "08 06", header.EtherTypeARP, 14, 0, true},
		{"802.1Q tag", macs + "81 00 20 64  86 dd // PCP 1, VID 100, IPv6", header.EtherTypeIPv6, 18, 1, true},
		{"802.1ad then 802.1Q (QinQ)", macs + "88 a8 00 0a  81 00 00 14  08 00", header.EtherTypeIPv4, 22, 2, true},
		// __vlan_get_protocol follows tags as long as the type is a VLAN TPID.
		{"three stacked tags", macs + "88 a8 00 01  88 a8 00 02  81 00 00 03  08 06", header.EtherTypeARP, 26, 3, true},
		{"802.3 length field is returned as is", macs + "00 2e", 0x002e, 14, 0, true},
		{"truncated inside tag", macs + "81 00 00", 0, 0, 0, false},
		{"tag without inner EtherType", macs + "81 00 00 64", 0, 0, 0, false},
		{"truncated before EtherType", "ff ff ff ff ff ff 02 00 00 00 00 01", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := header.Ethernet(unhex(t, tt.frame))
			et, off, ok := e.PayloadOffset()
			if ok != tt.ok || et != tt.wantType || off != tt.wantOff {
				t.Fatalf("PayloadOffset() = %#04x, %d, %v; want %#04x, %d, %v", et, off, ok, tt.wantType, tt.wantOff, tt.ok)
			}
			n, ok := e.NumVLANTags()
			if ok != tt.ok || n != tt.wantTags {
				t.Errorf("NumVLANTags() = %d, %v; want %d, %v", n, ok, tt.wantTags, tt.ok)
			}
			if tt.ok && len(e.Payload()) != len(e)-tt.wantOff {
				t.Errorf("len(Payload()) = %d, want %d", len(e.Payload()), len(e)-tt.wantOff)
			}
		})
	}
}

func TestEthernetAccessors(t *testing.T) {
	b := unhex(t, `
		02 00 00 00 00 02          // destination
		02 00 00 00 00 01          // source
		88 a8 e0 0a                // S-tag: PCP 7, DEI 0, VID 10
		81 00 30 14                // C-tag: PCP 1, DEI 1, VID 20
		08 00                      // IPv4
	`)
	e := header.Ethernet(b)
	if !e.IsValid() || !e.IsTagged() {
		t.Fatal("want a valid tagged frame")
	}
	if got, want := e.DestinationAddress(), header.MustParseMAC("02:00:00:00:00:02"); got != want {
		t.Errorf("DestinationAddress() = %v, want %v", got, want)
	}
	if got, want := e.SourceAddress(), header.MustParseMAC("02:00:00:00:00:01"); got != want {
		t.Errorf("SourceAddress() = %v, want %v", got, want)
	}
	if e.Type() != header.EtherType8021AD {
		t.Errorf("Type() = %#x, want the outer TPID 0x88a8", e.Type())
	}
	wantTags := []header.VLANTagFields{
		{TPID: header.EtherType8021AD, Priority: 7, ID: 10},
		{TPID: header.EtherType8021Q, Priority: 1, DropEligible: true, ID: 20},
	}
	for i, want := range wantTags {
		tag, ok := e.VLANTagAt(i)
		if !ok {
			t.Fatalf("VLANTagAt(%d) not found", i)
		}
		if got := tag.Fields(); got != want {
			t.Errorf("VLANTagAt(%d).Fields() = %+v, want %+v", i, got, want)
		}
	}
	if _, ok := e.VLANTagAt(2); ok {
		t.Error("VLANTagAt(2) found a third tag")
	}
	f, ok := e.Fields()
	if !ok || f.Type != header.EtherTypeIPv4 || len(f.VLANTags) != 2 {
		t.Fatalf("Fields() = %+v, %v", f, ok)
	}
	out := make([]byte, f.EncodedLen())
	header.Ethernet(out).Encode(&f)
	if !bytes.Equal(out, b) {
		t.Errorf("Encode(Fields()) = % x, want % x", out, b)
	}

	tag, _ := e.VLANTagAt(1)
	tag.SetID(0xfff + 5) // masked to 12 bits, priority and DEI kept
	if tag.ID() != 4 || tag.Priority() != 1 || !tag.DropEligible() {
		t.Errorf("after SetID: %+v", tag.Fields())
	}
}

func TestEthernetEncodeUntagged(t *testing.T) {
	want := unhex(t, "02 00 00 00 00 02  02 00 00 00 00 01  86 dd")
	b := make([]byte, header.EthernetSize)
	header.Ethernet(b).Encode(&header.EthernetFields{
		Destination: header.MustParseMAC("02:00:00:00:00:02"),
		Source:      header.MustParseMAC("02:00:00:00:00:01"),
		Type:        header.EtherTypeIPv6,
	})
	if !bytes.Equal(b, want) {
		t.Errorf("Encode = % x, want % x", b, want)
	}
}

func TestARP(t *testing.T) {
	// Who has 192.0.2.2? Tell 192.0.2.1 (RFC 826 packet for Ethernet/IPv4).
	b := unhex(t, `
		00 01 08 00   // ar$hrd Ethernet, ar$pro IPv4
		06 04 00 01   // ar$hln 6, ar$pln 4, ar$op request
		02 00 00 00 00 01  c0 00 02 01   // sha, spa 192.0.2.1
		00 00 00 00 00 00  c0 00 02 02   // tha, tpa 192.0.2.2
	`)
	a := header.ARP(b)
	if !a.IsValid() {
		t.Fatal("IsValid() = false")
	}
	want := header.ARPFields{
		Op:                    header.ARPRequest,
		SenderHardwareAddress: header.MustParseMAC("02:00:00:00:00:01"),
		SenderProtocolAddress: mustAddr("192.0.2.1"),
		TargetProtocolAddress: mustAddr("192.0.2.2"),
	}
	if got := a.Fields(); got != want {
		t.Errorf("Fields() = %+v, want %+v", got, want)
	}
	if !bytes.Equal(a.SenderProtocolAddressSlice(), []byte{192, 0, 2, 1}) ||
		!bytes.Equal(a.TargetProtocolAddressSlice(), []byte{192, 0, 2, 2}) {
		t.Error("address slices do not match")
	}
	out := make([]byte, header.ARPSize)
	header.ARP(out).Encode(&want)
	if !bytes.Equal(out, b) {
		t.Errorf("Encode = % x, want % x", out, b)
	}

	// A proxy-ARP reply is built by rewriting the request in place.
	a.SetOp(header.ARPReply)
	a.SetTargetHardwareAddress(a.SenderHardwareAddress())
	a.SetTargetProtocolAddress(a.SenderProtocolAddress())
	a.SetSenderHardwareAddress(header.MustParseMAC("02:00:00:00:00:02"))
	a.SetSenderProtocolAddress(mustAddr("192.0.2.2"))
	if a.Op() != header.ARPReply || a.TargetHardwareAddress() != want.SenderHardwareAddress ||
		a.SenderProtocolAddress() != want.TargetProtocolAddress {
		t.Errorf("reply rewrite: %+v", a.Fields())
	}
}

// TestARPIsValidMatchesArpReduce checks the checks the kernel's arp_reduce
// makes before it reads ARP addresses (vxlan_core.c): Ethernet hardware,
// IPv4 protocol, lengths 6 and 4.
func TestARPIsValidMatchesArpReduce(t *testing.T) {
	good := unhex(t, "00 01 08 00 06 04 00 01"+" 00000000000000000000 00000000000000000000")
	if !header.ARP(good).IsValid() {
		t.Fatal("good packet rejected")
	}
	for _, tt := range []struct {
		name string
		off  int
		val  byte
	}{
		{"hardware type not Ethernet", 1, 6},
		{"protocol type not IPv4", 2, 0x86},
		{"hardware length not 6", 4, 8},
		{"protocol length not 4", 5, 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(good)
			b[tt.off] = tt.val
			if header.ARP(b).IsValid() {
				t.Error("IsValid() = true")
			}
		})
	}
	if header.ARP(good[:header.ARPSize-1]).IsValid() {
		t.Error("truncated packet accepted")
	}
}
