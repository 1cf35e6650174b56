package netlab_test

import (
	"bytes"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/underlay"
)

var (
	macA, macB = header.MustParseMAC("02:aa:00:00:00:01"), header.MustParseMAC("02:aa:00:00:00:02")
)

// TestLabPing wires two hosts and checks that a frame crosses, that the
// trace hook sees it and that Recv times out when nothing comes.
func TestLabPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent int
		lab := netlab.NewForTest(t, netlab.Options{Trace: func(ev underlay.CaptureEvent) {
			if ev.Kind == underlay.CaptureSent {
				sent++
			}
		}})
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		h2 := lab.MustAddHost(t, "h2", "192.0.2.2")
		l1 := h1.MustAddLink(t, "vx0", "id 1 remote 192.0.2.2 dstport 4789")
		l2 := h2.MustAddLink(t, "vx0", "id 1 remote 192.0.2.1 dstport 4789")
		if lab.Host("h2") != h2 || h2.Link("vx0") != l2 || l1.MAC() != (header.MAC{2, 0, 0, 1, 0, 1}) {
			t.Fatal("lookups or MAC numbering broken")
		}
		f := netlab.Echo(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}, false, 1, 1, []byte("ping"))
		l1.Send(f)
		got, ok := l2.Recv(time.Second)
		if !ok || !bytes.Equal(got.Data, f) {
			t.Fatalf("Recv = %x, %v", got.Data, ok)
		}
		if sent != 1 {
			t.Errorf("trace saw %d sent packets", sent)
		}
		if _, ok := l2.Recv(time.Second); ok {
			t.Error("a second frame arrived")
		}
		if _, err := h1.AddLink("bad", "id 16777216"); err == nil {
			t.Error("invalid args accepted")
		}
	})
}

// TestFramesChecksums: the frame builders produce valid checksums, and
// PartialChecksum turns them into what a vnet_hdr TAP hands over.
func TestFramesChecksums(t *testing.T) {
	for _, h := range []netlab.IP{
		{SrcMAC: macA, DstMAC: macB, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")},
		{SrcMAC: macA, DstMAC: macB, Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2")},
	} {
		for _, f := range [][]byte{
			netlab.UDP(h, 1, 2, []byte("abc")),
			netlab.TCP(h, 1, 2, 3, []byte("abcd")),
			netlab.Echo(h, true, 1, 2, []byte("x")),
		} {
			if !netlab.L4ChecksumValid(f) {
				t.Errorf("%v: bad checksum in %x", h.Src, f)
			}
		}
		f := netlab.TCP(h, 1, 2, 3, []byte("abcd"))
		m := netlab.PartialChecksum(f)
		if !m.ChecksumPartial || m.ChecksumOffset != 16 || netlab.L4ChecksumValid(f) {
			t.Errorf("%v: PartialChecksum = %+v", h.Src, m)
		}
	}
	ns := netlab.NeighborSolicit(macA, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), true)
	if !netlab.L4ChecksumValid(ns) || len(ns) != 14+40+24+8 || ns[0] != 0x33 {
		t.Errorf("bad NS %x", ns)
	}
	arp := netlab.ARPRequest(macA, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))
	if len(arp) != 42 || !header.ARP(arp[14:]).IsValid() {
		t.Errorf("bad ARP request %x", arp)
	}
}
