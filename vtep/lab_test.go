package vtep_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/tap"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// Addresses used throughout the lab tests: underlay VTEP addresses
// 192.0.2.N / 2001:db8::N, overlay hosts 10.1.0.N / fd00::N with MACs
// 02:aa:00:00:00:0N.
var (
	vtep1, vtep2, vtep3, vtep4 = ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")
	vtep6a, vtep6b             = ip("2001:db8::1"), ip("2001:db8::2")

	macA, macB, macC = mac("02:aa:00:00:00:01"), mac("02:aa:00:00:00:02"), mac("02:aa:00:00:00:03")
	ipA, ipB, ipC    = ip("10.1.0.1"), ip("10.1.0.2"), ip("10.1.0.3")
	ip6A, ip6B       = ip("fd00::1"), ip("fd00::2")
)

func ip(s string) netip.Addr                     { return netip.MustParseAddr(s) }
func mac(s string) header.MAC                    { return header.MustParseMAC(s) }
func payload(n int) []byte                       { return bytes.Repeat([]byte{0x5a}, n) }
func counter(l *netlab.Link, name string) uint64 { return l.Stats().Get(name) }

// bubble runs f in a synctest bubble with a lab that is closed (and
// checked for leaked goroutines) when f returns.
func bubble(t *testing.T, opts netlab.Options, f func(t *testing.T, lab *netlab.Lab)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		f(t, netlab.NewForTest(t, opts))
	})
}

// recvAll waits for the datapath to settle and returns the frames waiting
// at l's overlay port.
func recvAll(l *netlab.Link) []tap.Frame {
	synctest.Wait()
	return l.Drain()
}

// expectFrames checks that l delivered exactly want, byte for byte; a nil
// want matches any frame.
func expectFrames(t *testing.T, l *netlab.Link, want ...[]byte) []tap.Frame {
	t.Helper()
	got := recvAll(l)
	if len(got) != len(want) {
		t.Fatalf("%s/%s: got %d frames, want %d", l.Host.Name, l.Name(), len(got), len(want))
	}
	for i := range want {
		if want[i] != nil && !bytes.Equal(got[i].Data, want[i]) {
			t.Errorf("%s/%s: frame %d:\n got %x\nwant %x", l.Host.Name, l.Name(), i, got[i].Data, want[i])
		}
	}
	return got
}

// twoHosts builds h1 and h2 with one link each, VNI 42, flooding to each
// other through the all-zeros entry.
func twoHosts(t *testing.T, lab *netlab.Lab, extra string) (*netlab.Link, *netlab.Link) {
	h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
	h2 := lab.MustAddHost(t, "h2", "192.0.2.2")
	l1 := h1.MustAddLink(t, "vx0", "id 42 remote 192.0.2.2 local 192.0.2.1 dstport 4789 "+extra)
	l2 := h2.MustAddLink(t, "vx0", "id 42 remote 192.0.2.1 local 192.0.2.2 dstport 4789 "+extra)
	return l1, l2
}

// TestTwoHostsARPAndPingLearn: an ARP request floods through the default
// (all-zeros) entry, the reply and an ICMP echo exchange go unicast once
// both sides learned the other's MAC (vxlan_xmit, vxlan_snoop). Every frame
// comes out byte-identical.
func TestTwoHostsARPAndPingLearn(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")

		req := netlab.ARPRequest(macA, ipA, ipB)
		l1.Send(req)
		expectFrames(t, l2, req)
		if e, _ := l2.FDB().Get(macA, 42); e == nil {
			t.Fatalf("h2 did not learn %v", macA)
		} else if r, _ := e.FirstRemote(); r.IP != vtep1 {
			t.Fatalf("h2 learned %v behind %v, want %v", macA, r.IP, vtep1)
		}

		rep := netlab.ARPReply(macB, ipB, macA, ipA)
		l2.Send(rep)
		expectFrames(t, l1, rep)
		if e, _ := l1.FDB().Get(macB, 42); e == nil {
			t.Fatalf("h1 did not learn %v", macB)
		}

		for seq := range uint16(5) {
			ping := netlab.Echo(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, false, 7, seq, payload(56))
			l1.Send(ping)
			expectFrames(t, l2, ping)
			pong := netlab.Echo(netlab.IP{SrcMAC: macB, DstMAC: macA, Src: ipB, Dst: ipA}, true, 7, seq, payload(56))
			l2.Send(pong)
			expectFrames(t, l1, pong)
		}
		for _, l := range []*netlab.Link{l1, l2} {
			if got := counter(l, "tx_packets"); got != 6 {
				t.Errorf("%s tx_packets = %d, want 6", l.Host.Name, got)
			}
			if got := counter(l, "rx_packets"); got != 6 {
				t.Errorf("%s rx_packets = %d, want 6", l.Host.Name, got)
			}
			if got := counter(l, "fdb_learned"); got != 1 {
				t.Errorf("%s fdb_learned = %d, want 1", l.Host.Name, got)
			}
		}
		// rx_bytes and tx_bytes count past the inner Ethernet header
		// (eth_type_trans; iptunnel_xmit's skb_inner_network_offset).
		wantBytes := uint64(len(req)-14) + 5*uint64(len(netlab.Echo(netlab.IP{Src: ipA, Dst: ipB}, false, 0, 0, payload(56)))-14)
		if got := counter(l1, "tx_bytes"); got != wantBytes {
			t.Errorf("h1 tx_bytes = %d, want %d", got, wantBytes)
		}
		if got := counter(l2, "rx_bytes"); got != wantBytes {
			t.Errorf("h2 rx_bytes = %d, want %d", got, wantBytes)
		}
		if s := lab.Net.Stats(); s.Sent != 12 || s.Delivered != 12 {
			t.Errorf("underlay stats %+v, want 12 sent and delivered", s)
		}
	})
}

var _ = underlay.CaptureSent

// addFDB adds a permanent entry (`bridge fdb add MAC dev L dst DST port P
// vni V self permanent`); port and vni 0 mean the link's.
func addFDB(t *testing.T, l *netlab.Link, m header.MAC, dst netip.Addr, port uint16, vni uint32, flags fdb.Flags) {
	t.Helper()
	r := fdb.Request{MAC: m, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf | flags, Dst: dst, Port: port}
	if vni != 0 {
		r.VNI, r.HasVNI = header.VNI(vni), true
	}
	if err := l.FDB().Add(r); err != nil {
		t.Fatalf("fdb add %v dst %v: %v", m, dst, err)
	}
}

// appendFDB appends a remote to an entry (`bridge fdb append`).
func appendFDB(t *testing.T, l *netlab.Link, m header.MAC, dst netip.Addr) {
	t.Helper()
	if err := l.FDB().Append(fdb.Request{MAC: m, State: fdb.StatePermanent | fdb.StateNoARP, Flags: fdb.FlagSelf, Dst: dst}); err != nil {
		t.Fatalf("fdb append %v dst %v: %v", m, dst, err)
	}
}

// learnedAt returns the first remote of the entry for m, or the invalid
// address.
func learnedAt(l *netlab.Link, m header.MAC) netip.Addr {
	e, _ := l.FDB().Get(m, l.Config().VNI)
	if e == nil {
		return netip.Addr{}
	}
	r, _ := e.FirstRemote()
	return r.IP
}

// TestFloodHeadEndReplicationOrder: a broadcast frame with no FDB entry
// goes to every remote of the all-zeros entry. vxlan_xmit sends clones to
// the second and later remotes in list order and the original to the first
// remote last, so the wire order for the list [h2, h3, h4] is h3, h4, h2.
func TestFloodHeadEndReplicationOrder(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		l1 := h1.MustAddLink(t, "vx0", "id 42 remote 192.0.2.2 local 192.0.2.1 dstport 4789")
		appendFDB(t, l1, header.ZeroMAC, vtep3)
		appendFDB(t, l1, header.ZeroMAC, vtep4)
		var peers []*netlab.Link
		for i, a := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"} {
			h := lab.MustAddHost(t, "h"+string(rune('2'+i)), a)
			peers = append(peers, h.MustAddLink(t, "vx0", "id 42 local "+a+" dstport 4789"))
		}
		req := netlab.ARPRequest(macA, ipA, ipB)
		l1.Send(req)
		for _, p := range peers {
			expectFrames(t, p, req)
		}
		sent := rec.take()
		var order []netip.Addr
		for _, s := range sent {
			o := decodeOuter(t, s.pkt)
			if !bytes.Equal(o.inner, req) || o.vni() != 42 {
				t.Errorf("flooded copy to %v carries %x vni %d", o.dst, o.inner, o.vni())
			}
			order = append(order, o.dst)
		}
		want := []netip.Addr{vtep3, vtep4, vtep2}
		if !slices.Equal(order, want) {
			t.Errorf("replication order %v, want %v (vxlan_xmit: clones first, original to the first remote last)", order, want)
		}
		if got := counter(l1, "tx_packets"); got != 3 {
			t.Errorf("tx_packets = %d, want 3 (one per remote)", got)
		}
	})
}

// TestMACMigrationBetweenHosts: a learned entry moves when the MAC shows up
// behind another VTEP (vxlan_snoop: "%pM migrated from %pIS to %pIS"), and
// only the remote IP changes.
func TestMACMigrationBetweenHosts(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		h2 := lab.MustAddHost(t, "h2", "192.0.2.2")
		h3 := lab.MustAddHost(t, "h3", "192.0.2.3")
		l1 := h1.MustAddLink(t, "vx0", "id 42 remote 192.0.2.3 local 192.0.2.1 dstport 4789")
		l2 := h2.MustAddLink(t, "vx0", "id 42 remote 192.0.2.3 local 192.0.2.2 dstport 4789")
		l3 := h3.MustAddLink(t, "vx0", "id 42 local 192.0.2.3 dstport 4789")
		events, cancel := l3.FDB().Subscribe(16)
		defer cancel()

		f := netlab.ARPRequest(macA, ipA, ipC)
		l1.Send(f)
		expectFrames(t, l3, f)
		if got := learnedAt(l3, macA); got != vtep1 {
			t.Fatalf("learned %v behind %v, want %v", macA, got, vtep1)
		}
		l2.Send(f) // macA moved to h2
		expectFrames(t, l3, f)
		if got := learnedAt(l3, macA); got != vtep2 {
			t.Fatalf("after the move %v is behind %v, want %v", macA, got, vtep2)
		}
		if got := counter(l3, "fdb_migrated"); got != 1 {
			t.Errorf("fdb_migrated = %d, want 1", got)
		}
		var types []fdb.EventType
		for len(events) > 0 {
			types = append(types, (<-events).Type)
		}
		if !slices.Equal(types, []fdb.EventType{fdb.EventLearned, fdb.EventMigrated}) {
			t.Errorf("FDB events %v, want [learned migrated]", types)
		}
	})
}

// TestStaticEntryRefusesMigration: traffic from a MAC that has a static
// entry pointing at another VTEP is dropped, not learned ("Don't migrate
// static entries, drop packets", vxlan_snoop; VXLAN_ENTRY_EXISTS).
func TestStaticEntryRefusesMigration(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")
		addFDB(t, l2, macA, vtep3, 0, 0, 0)
		l1.Send(netlab.ARPRequest(macA, ipA, ipB))
		expectFrames(t, l2)
		if got := learnedAt(l2, macA); got != vtep3 {
			t.Errorf("static entry moved to %v", got)
		}
		if got := counter(l2, "drop_entry_exists"); got != 1 {
			t.Errorf("drop_entry_exists = %d, want 1", got)
		}
		// Without learning the static entry is not consulted on receive.
		l1b, l2b := l1, l2
		_ = l1b
		if err := l2b.Change(withArgs(t, l2b, "nolearning")); err != nil {
			t.Fatal(err)
		}
		f := netlab.ARPRequest(macA, ipA, ipB)
		l1.Send(f)
		expectFrames(t, l2, f)
	})
}

// TestAgeingWithFakeClock: a learned entry lives for "ageing" seconds after
// its last refresh and is removed by the next sweep, which runs at most
// FDB_AGE_INTERVAL (10 s) later (vxlan_cleanup). Static entries never age.
func TestAgeingWithFakeClock(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "ageing 30")
		addFDB(t, l2, macC, vtep3, 0, 0, 0)
		events, cancel := l2.FDB().Subscribe(16)
		defer cancel()
		f := netlab.ARPRequest(macA, ipA, ipB)
		l1.Send(f)
		expectFrames(t, l2, f)
		start := time.Now()
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if !learnedAt(l2, macA).IsValid() {
			t.Fatalf("entry aged after %v, before its 30 s", time.Since(start))
		}
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if learnedAt(l2, macA).IsValid() {
			t.Fatalf("entry still there after %v", time.Since(start))
		}
		if !learnedAt(l2, macC).IsValid() {
			t.Errorf("static entry aged")
		}
		var aged bool
		for len(events) > 0 {
			if ev := <-events; ev.Type == fdb.EventAged && ev.Key.MAC == macA {
				aged = true
			}
		}
		if !aged {
			t.Errorf("no aged event for %v", macA)
		}
	})
}

// TestIPv6Underlay: links over an IPv6 underlay build IPv6 outer headers
// (udp6_set_csum, hop limit 64, flow label 0) and learn IPv6 VTEPs.
func TestIPv6Underlay(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "2001:db8::1")
		h2 := lab.MustAddHost(t, "h2", "2001:db8::2")
		l1 := h1.MustAddLink(t, "vx0", "id 7 remote 2001:db8::2 local 2001:db8::1 dstport 4789")
		l2 := h2.MustAddLink(t, "vx0", "id 7 remote 2001:db8::1 local 2001:db8::2 dstport 4789")
		ping := netlab.Echo(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ip6A, Dst: ip6B, TOS: 0x01}, false, 1, 1, payload(100))
		l1.Send(ping)
		expectFrames(t, l2, ping)
		if got := learnedAt(l2, macA); got != vtep6a {
			t.Errorf("learned %v behind %v, want %v", macA, got, vtep6a)
		}
		sent := rec.take()
		if len(sent) != 1 {
			t.Fatalf("%d packets sent, want 1", len(sent))
		}
		o := decodeOuter(t, sent[0].pkt)
		if !o.v6 || o.src != vtep6a || o.dst != vtep6b || o.ttl != 64 || o.label != 0 || o.udpCsum == 0 || o.dport != 4789 || o.vni() != 7 {
			t.Errorf("outer header %+v", o)
		}
		if o.tos != 0x01 {
			t.Errorf("outer traffic class %#x, want ECT(1) copied from the inner packet", o.tos)
		}
	})
}

// TestTwoVNIsShareOneSocket: links with different VNIs and the same port,
// family and receive flags share one socket (vxlan_find_sock), and received
// packets are demultiplexed by VNI (vxlan_vs_find_vni).
func TestTwoVNIsShareOneSocket(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h1 := lab.MustAddHost(t, "h1", "192.0.2.1")
		h2 := lab.MustAddHost(t, "h2", "192.0.2.2")
		a10 := h1.MustAddLink(t, "vx10", "id 10 remote 192.0.2.2 dstport 4789")
		a20 := h1.MustAddLink(t, "vx20", "id 20 remote 192.0.2.2 dstport 4789")
		b10 := h2.MustAddLink(t, "vx10", "id 10 remote 192.0.2.1 dstport 4789")
		b20 := h2.MustAddLink(t, "vx20", "id 20 remote 192.0.2.1 dstport 4789")
		f10 := netlab.ARPRequest(macA, ipA, ipB)
		f20 := netlab.ARPRequest(macC, ipC, ipB)
		a10.Send(f10)
		a20.Send(f20)
		expectFrames(t, b10, f10)
		expectFrames(t, b20, f20)
		if learnedAt(b10, macC).IsValid() || learnedAt(b20, macA).IsValid() {
			t.Errorf("a MAC was learned on the wrong VNI")
		}
		// A third link on the same socket key with a VNI in use fails.
		_, err := h2.AddLink("vx10b", "id 10 dstport 4789")
		var inUse *vtep.VNIInUseError
		if !errors.As(err, &inUse) || !errors.Is(err, vtep.ErrExist) || !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("duplicate VNI: err = %v, want a *VNIInUseError matching EEXIST", err)
		}
		if want := "VNI 10 already in use by vx10 (duplicate VNI)"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		// Another port is another socket: the VNI is free there.
		h2.MustAddLink(t, "vx10c", "id 10 dstport 4790")
	})
}

// TestDuplicateVNIRefused: vxlan_vni_in_use makes a second device with
// the same VNI, port, family and receive flags fail with EEXIST.
func TestDuplicateVNIRefused(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
		h.MustAddLink(t, "vx0", "id 42 dstport 4789")
		_, err := h.AddLink("vx1", "id 42 dstport 4789")
		if !errors.Is(err, syscall.EEXIST) || err.Error() != "VNI 42 already in use by vx0 (duplicate VNI)" {
			t.Fatalf("err = %v", err)
		}
		// Same VNI over the other family is a different socket.
		h.MustAddLink(t, "vx6", "id 42 local 2001:db8::1 dstport 4789")
		// After deleting vx0 the VNI is free again.
		if err := h.VTEP.DelLink("vx0"); err != nil {
			t.Fatal(err)
		}
		h.MustAddLink(t, "vx1", "id 42 dstport 4789")
		if err := h.VTEP.DelLink("nope"); !errors.Is(err, vtep.ErrNotFound) {
			t.Errorf("DelLink of a missing link: %v", err)
		}
	})
}

// withArgs applies `ip link set NAME type vxlan ARGS` to l's configuration.
func withArgs(t *testing.T, l *netlab.Link, args string) config.Link {
	t.Helper()
	c, err := l.Config().Change(strings.Fields(args))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type fdbRequest = fdb.Request

const (
	fdbPermanent = fdb.StatePermanent | fdb.StateNoARP
	fdbSelf      = fdb.FlagSelf
)

// TestOtherRecvFlagsOnAUsedPortRefused: a link whose receive flags differ
// from those of the up links on its port needs a socket of its own on
// that port, and the kernel's bind of it fails when the link comes up
// (vxlan_open → vxlan_sock_add → udp_sock_create: "RTNETLINK answers:
// Address already in use"); creating it succeeds. The same holds with
// several workers, whose SO_REUSEPORT sockets would otherwise join the
// first socket's group. The other family and other ports are free, and so
// is the port while the plain link is down (its socket is closed).
func TestOtherRecvFlagsOnAUsedPortRefused(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers %d", workers), func(t *testing.T) {
			bubble(t, netlab.Options{Workers: workers}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
				plain := h.MustAddLink(t, "vx0", "id 42 dstport 4789")
				gbp := addDownLink(t, h, "vx1", "id 43 dstport 4789 gbp")
				wantInUse := func(err error) {
					t.Helper()
					if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, underlay.ErrAddrInUse) {
						t.Fatalf("gbp link up on the port of an up plain one: err = %v, want EADDRINUSE", err)
					}
				}
				wantInUse(gbp.SetUp(true))
				if gbp.IsUp() || len(gbp.SocketKeys()) != 0 {
					t.Errorf("after the refused up: up %v, sockets %v; want down, none", gbp.IsUp(), gbp.SocketKeys())
				}
				h.MustAddLink(t, "vx2", "id 43 dstport 4790 gbp")
				h.MustAddLink(t, "vx6", "id 43 local 2001:db8::1 dstport 4789 gbp")
				// Once the plain link is down, the port takes gbp links,
				// and then refuses the plain one.
				if err := plain.SetUp(false); err != nil {
					t.Fatal(err)
				}
				if err := gbp.SetUp(true); err != nil {
					t.Fatalf("gbp link up with the plain one down: %v", err)
				}
				wantInUse(plain.SetUp(true))
				if err := h.VTEP.DelLink("vx1"); err != nil {
					t.Fatal(err)
				}
				if err := plain.SetUp(true); err != nil {
					t.Fatalf("plain link up after the gbp one was deleted: %v", err)
				}
			})
		})
	}
}

// addDownLink creates a link and leaves it down.
func addDownLink(t *testing.T, h *netlab.Host, name, args string) *netlab.Link {
	t.Helper()
	l, err := h.AddLinkDown(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

// TestSocketsOpenAtUpAndCloseAtDown: a link's sockets are opened when it
// comes up and let go of when it goes down (vxlan_open → vxlan_sock_add,
// vxlan_stop → vxlan_sock_release), shared by the up links with the same
// port, family and receive flags and closed with the last of them. So
// `link add` succeeds on a port another program holds and `up` is refused
// with EADDRINUSE, leaving the link down; and a datagram to a port whose
// links are all down finds no socket (the host answers ICMP port
// unreachable; interop checks that part against the kernel).
func TestSocketsOpenAtUpAndCloseAtDown(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers %d", workers), func(t *testing.T) {
			bubble(t, netlab.Options{Workers: workers}, func(t *testing.T, lab *netlab.Lab) {
				h := lab.MustAddHost(t, "h1", "192.0.2.1")
				// Another program holds the port.
				squatter, err := h.Underlay.Listen(underlay.ListenConfig{Port: 4789})
				if err != nil {
					t.Fatal(err)
				}
				a := addDownLink(t, h, "vxa", "id 10 dstport 4789")
				b := addDownLink(t, h, "vxb", "id 20 dstport 4789")
				if err := a.SetUp(true); !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, underlay.ErrAddrInUse) {
					t.Fatalf("up on a port held by another socket: err = %v, want EADDRINUSE", err)
				}
				if a.IsUp() || len(a.SocketKeys()) != 0 {
					t.Fatalf("after the refused up: up %v, sockets %v; want down, none", a.IsUp(), a.SocketKeys())
				}
				squatter.Close()

				want := []vtep.SocketKey{{Port: 4789}}
				for _, l := range []*netlab.Link{a, b} {
					if err := l.SetUp(true); err != nil {
						t.Fatal(err)
					}
					if got := l.SocketKeys(); !slices.Equal(got, want) {
						t.Errorf("%s up: sockets %v, want %v", l.Config().Name, got, want)
					}
				}
				// While either is up, the port is vtep's.
				portTaken := func(when string, taken bool) {
					t.Helper()
					c, err := h.Underlay.Listen(underlay.ListenConfig{Port: 4789})
					if err == nil {
						c.Close()
					}
					if got := err != nil; got != taken {
						t.Errorf("%s: port taken %v (%v), want %v", when, got, err, taken)
					}
				}
				portTaken("both up", true)
				if err := a.SetUp(false); err != nil {
					t.Fatal(err)
				}
				portTaken("vxb up", true)
				if len(a.SocketKeys()) != 0 {
					t.Errorf("vxa down: sockets %v, want none", a.SocketKeys())
				}

				// The shared socket still carries vxb's VNI, and not vxa's.
				in := newInjector(t, lab, "192.0.2.9")
				in.send(crafted{dst: vtep1, vx: vxHeader(flagI, 20, 0)}, plainFrame)
				expectFrames(t, b, plainFrame)
				in.send(crafted{dst: vtep1, vx: vxHeader(flagI, 10, 0)}, plainFrame)
				expectFrames(t, a)
				if n := h.VTEP.Stats().Map()["drop_vni_not_found"]; n != 1 {
					t.Errorf("drop_vni_not_found %d, want 1", n)
				}

				if err := b.SetUp(false); err != nil {
					t.Fatal(err)
				}
				portTaken("both down", false)
				noSocket := lab.Net.Stats().NoRoute
				in.send(crafted{dst: vtep1, vx: vxHeader(flagI, 20, 0)}, plainFrame)
				expectFrames(t, b)
				if n := lab.Net.Stats().NoRoute - noSocket; n != 1 {
					t.Errorf("both down: %d datagrams found no socket, want 1", n)
				}

				// Up again: a fresh socket receives.
				if err := b.SetUp(true); err != nil {
					t.Fatal(err)
				}
				in.send(crafted{dst: vtep1, vx: vxHeader(flagI, 20, 0)}, plainFrame)
				expectFrames(t, b, plainFrame)
				// Deleting an up link closes its socket.
				if err := h.VTEP.DelLink("vxb"); err != nil {
					t.Fatal(err)
				}
				portTaken("vxb deleted", false)
			})
		})
	}
}

// TestUpDownWhileSending: a link taken down and up again while its overlay
// port keeps sending loses its sockets between a frame's encapsulation and
// the batch's send; the queued packets are then counted as dropped, never
// sent on a closed socket or a missing one. Run under -race in CI.
func TestUpDownWhileSending(t *testing.T) {
	lab := netlab.NewForTest(t, netlab.Options{Workers: 2, Queues: 2})
	l1 := lab.MustAddHost(t, "h1", "192.0.2.1").MustAddLink(t, "vx0", "id 42 remote 192.0.2.2 dstport 4789")
	l2 := lab.MustAddHost(t, "h2", "192.0.2.2").MustAddLink(t, "vx0", "id 42 remote 192.0.2.1 dstport 4789")
	stop := make(chan struct{})
	done := make(chan struct{})
	var sent atomic.Int64
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, uint16(1000+i%64), 2, payload(100))
			l1.Send(f)
			sent.Add(1)
			l2.Drain()
		}
	}()
	for range 200 {
		if err := l1.SetUp(false); err != nil {
			t.Fatal(err)
		}
		if err := l1.SetUp(true); err != nil {
			t.Fatal(err)
		}
		// Let frames through before the next down.
		before := l1.Stats().Map()["tx_packets"]
		for deadline := time.Now().Add(50 * time.Millisecond); l1.Stats().Map()["tx_packets"] == before && time.Now().Before(deadline); {
			runtime.Gosched()
		}
	}
	close(stop)
	<-done
	// The loop's frames still on their way fill the queues behind them and
	// are dropped when they are full (drop_overlay_full, the underlay's
	// QueueFull); wait until they are all through or dropped, so that the
	// last frame does not meet them.
	for prev, deadline := "", time.Now().Add(10*time.Second); time.Now().Before(deadline); {
		l2.Drain()
		time.Sleep(20 * time.Millisecond)
		cur := fmt.Sprint(l1.Stats().Map(), l2.Stats().Map(), lab.Net.Stats())
		if cur == prev {
			break
		}
		prev = cur
	}
	// A last frame, unlike the loop's, must come through.
	f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, 9999, 2, payload(100))
	l1.Send(f)
	for {
		got, ok := l2.Recv(5 * time.Second)
		if !ok {
			t.Fatalf("after the up/down loop, a frame did not come through; l1 %v; l2 %v; net %+v", nonzero(l1.Stats().Map()), nonzero(l2.Stats().Map()), lab.Net.Stats())
		}
		if bytes.Equal(got.Data, f) {
			break
		}
	}
	if n := l1.Stats().Map()["tx_packets"]; n == 0 {
		t.Errorf("no frame was sent while the link went up and down")
	}
	t.Logf("%d frames offered; link counters: %v", sent.Load(), l1.Stats().Map())
}

// noIPv6 makes a lab host's opener fail for IPv6 sockets as socket(2)
// does on a host booted with ipv6.disable=1: EAFNOSUPPORT.
func noIPv6(name string, o *vtep.HostOptions) {
	inner := o.Opener
	o.Opener = vtep.OpenerFunc(func(k vtep.SocketKey) (underlay.Conn, error) {
		if k.IPv6 {
			return nil, fmt.Errorf("underlay: listen udp6 port %d: socket: %w", k.Port, syscall.EAFNOSUPPORT)
		}
		return inner.Open(k)
	})
}

// TestExternalLinkOnHostWithoutIPv6 (vxlan_sock_add): an external link
// opens its IPv6 socket first and, when the host has no IPv6
// (EAFNOSUPPORT), comes up with the IPv4 one alone and carries IPv4
// tunnels; a tunnel to an IPv6 remote has no socket and is dropped. A link
// with an IPv6 underlay on such a host cannot come up.
func TestExternalLinkOnHostWithoutIPv6(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers %d", workers), func(t *testing.T) {
			opts := netlab.Options{Workers: workers, Host: noIPv6}
			bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
				h1, h2 := lab.MustAddHost(t, "h1", "192.0.2.1"), lab.MustAddHost(t, "h2", "192.0.2.2")
				l1 := h1.MustAddLink(t, "vx0", "external dstport 4789")
				l2 := h2.MustAddLink(t, "vx0", "external dstport 4789")
				if keys := l1.SocketKeys(); len(keys) != 1 || keys[0].IPv6 || keys[0].Port != 4789 {
					t.Fatalf("external link's sockets = %v, want the IPv4 one alone", keys)
				}
				f := udp4(0, 0, false)
				l1.SendMeta(f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, VNI: 5000, Remote: netip.MustParseAddr("192.0.2.2")}})
				expectFrames(t, l2, f)

				l1.SendMeta(f, tap.Meta{Tunnel: tap.TunnelInfo{Valid: true, VNI: 5000, Remote: netip.MustParseAddr("2001:db8::2")}})
				recvAll(l1)
				if n := counter(l1, "drop_no_route"); n != 1 {
					t.Errorf("tunnel to an IPv6 remote without an IPv6 socket: drop_no_route = %d, want 1", n)
				}

				v6 := addDownLink(t, h1, "vx6", "id 42 local 2001:db8::1 dstport 4790")
				if err := v6.SetUp(true); !errors.Is(err, syscall.EAFNOSUPPORT) {
					t.Errorf("IPv6 link up on a host without IPv6: err = %v, want EAFNOSUPPORT", err)
				}
				if v6.IsUp() || len(v6.SocketKeys()) != 0 {
					t.Errorf("after the refused up: up %v, sockets %v; want down, none", v6.IsUp(), v6.SocketKeys())
				}
			})
		})
	}
}

// TestExternalLinkIPv6SocketFailureFailsUp (vxlan_sock_add): an error
// other than EAFNOSUPPORT from the IPv6 socket fails the external link's
// up without trying IPv4, and leaves no socket open.
func TestExternalLinkIPv6SocketFailureFailsUp(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1", "2001:db8::1")
		h.MustAddLink(t, "vx6", "id 42 local 2001:db8::1 dstport 4789 gbp")
		ext := addDownLink(t, h, "vx0", "external dstport 4789")
		if err := ext.SetUp(true); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("external link up on a port an IPv6 link uses with other flags: err = %v, want EADDRINUSE", err)
		}
		if ext.IsUp() || len(ext.SocketKeys()) != 0 {
			t.Errorf("after the refused up: up %v, sockets %v; want down, none", ext.IsUp(), ext.SocketKeys())
		}
		if err := h.VTEP.DelLink("vx6"); err != nil {
			t.Fatal(err)
		}
		if err := ext.SetUp(true); err != nil {
			t.Fatalf("external link up once the port is free: %v", err)
		}
		if keys := ext.SocketKeys(); len(keys) != 2 {
			t.Errorf("external link's sockets = %v, want IPv4 and IPv6", keys)
		}
	})
}

func nonzero(m map[string]uint64) map[string]uint64 {
	o := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			o[k] = v
		}
	}
	return o
}
