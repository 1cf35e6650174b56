package header_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestInlining keeps the hot accessors inlinable, as net/netip's
// inlining_test.go does: a view is only free if its accessors compile to a
// bounds check and a load at the call site.
func TestInlining(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the compiler")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: go tool not found: %v", err)
	}
	out, err := exec.Command(goTool, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	got := map[string]bool{}
	re := regexp.MustCompile(`: can inline (\S+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		got[m[1]] = true
	}
	want := strings.Fields(`
		IsVLANEtherType Ethernet.IsValid Ethernet.DestinationAddress Ethernet.SourceAddress
		Ethernet.Type Ethernet.SetDestinationAddress Ethernet.SetSourceAddress Ethernet.SetType
		Ethernet.PayloadOffset VLANTag.ID VLANTag.TPID
		ARP.IsValid ARP.Op ARP.SenderHardwareAddress ARP.SenderProtocolAddress ARP.TargetProtocolAddress
		IPv4.IsValid IPv4.HeaderLength IPv4.TOS IPv4.ECN IPv4.TotalLength IPv4.ID IPv4.Flags
		IPv4.IsFragment IPv4.TTL IPv4.Protocol IPv4.Checksum IPv4.SourceAddress IPv4.DestinationAddress
		IPv4.SourceAddressSlice IPv4.DestinationAddressSlice IPv4.Payload IPv4.PseudoHeaderSum
		IPv4.SetTOS IPv4.SetTotalLength IPv4.SetID IPv4.SetTTL IPv4.SetChecksum IPv4.IsChecksumValid
		IPv6.IsValid IPv6.TrafficClass IPv6.FlowLabel IPv6.PayloadLength IPv6.NextHeader IPv6.HopLimit
		IPv6.SourceAddress IPv6.DestinationAddress IPv6.Payload IPv6.PseudoHeaderSum IPv6.SetPayloadLength
		IsIPv6ExtensionHeader
		UDP.IsValid UDP.SourcePort UDP.DestinationPort UDP.Length UDP.Checksum UDP.Payload
		UDP.SetSourcePort UDP.SetDestinationPort UDP.SetLength UDP.SetChecksum UDP.IsChecksumValid
		TCP.IsValid TCP.SourcePort TCP.DestinationPort TCP.SequenceNumber TCP.AckNumber TCP.DataOffset
		TCP.Flags TCP.WindowSize TCP.Checksum TCP.Options TCP.Payload TCP.SetSequenceNumber TCP.SetFlags
		TCP.SetChecksum NextTCPOption
		ICMPv6.Type ICMPv6.Code NDPNeighborSolicit.TargetAddress NDPOptions.Next
		VXLAN.IsValid VXLAN.Flags VXLAN.Word0 VXLAN.Word1 VXLAN.Uint64 VXLAN.IFlag VXLAN.VNI VXLAN.SetVNI
		VXLAN.GBP VXLAN.GroupPolicyID VXLAN.GBPMark VXLAN.RCO VXLAN.RCOStart VXLAN.SetUint64
		VXLANGPE.NextProtocol VXLANGPE.VNI
		VirtioNetHdr.IsValid VirtioNetHdr.Flags VirtioNetHdr.GSOType VirtioNetHdr.HdrLen
		VirtioNetHdr.GSOSize VirtioNetHdr.CsumStart VirtioNetHdr.CsumOffset VirtioNetHdr.Encode
		ECNEncapsulate ECNDecapsulate
	`)
	for _, fn := range want {
		if !got[fn] {
			t.Errorf("%s is not inlinable", fn)
		}
	}
}
