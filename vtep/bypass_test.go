package vtep_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/netlab"
	"github.com/vtepd/vtep/underlay"
	"github.com/vtepd/vtep/vtep"
)

// TestLocalBypass: a frame for a remote that is one of this host's own
// addresses is handed straight to the local link with the remote's VNI,
// port, family and receive flags (encap_bypass_if_local →
// vxlan_encap_bypass), which learns the source MAC behind 127.0.0.1; both
// links count the whole frame. Nothing reaches the underlay.
func TestLocalBypass(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		a := h.MustAddLink(t, "vxa", "id 10 local 192.0.2.1 dstport 4789")
		b := h.MustAddLink(t, "vxb", "id 20 local 192.0.2.1 dstport 4790")
		addFDB(t, a, macB, vtep1, 4790, 20, 0)
		f := udp4(0, 0, false)
		a.Send(f)
		expectFrames(t, b, f)
		if n := len(rec.take()); n != 0 {
			t.Errorf("%d packets reached the underlay", n)
		}
		if got := learnedAt(b, macA); got != ip("127.0.0.1") {
			t.Errorf("vxb learned %v behind %v, want 127.0.0.1", macA, got)
		}
		if counter(a, "tx_packets") != 1 || counter(a, "tx_bytes") != uint64(len(f)) ||
			counter(b, "rx_packets") != 1 || counter(b, "rx_bytes") != uint64(len(f)) {
			t.Errorf("counters: a %v\nb %v", a.Stats().Map(), b.Stats().Map())
		}
		// A destination link that is down is in no socket's VNI table
		// (vxlan_stop → vxlan_sock_release → vxlan_vs_del_dev), so the
		// sender finds no link and counts a transmit error; the down
		// link counts nothing. Linux 6.18 with two kernel vxlans: 2 pings
		// give the sender 2 tx errors and the down device no counts.
		b.SetUp(false)
		a.Send(f)
		expectFrames(t, b)
		if counter(a, "drop_bypass_no_link") != 1 || counter(a, "tx_errors") != 1 || counter(a, "tx_packets") != 1 ||
			counter(b, "rx_dropped") != 0 || counter(b, "rx_packets") != 1 {
			t.Errorf("down target: a %v\nb %v", a.Stats().Map(), b.Stats().Map())
		}
	})
}

// TestNoLocalBypass: with nolocalbypass the frame is encapsulated and sent
// to the local address through the underlay, so the other link learns the
// real VTEP address (test_vxlan_nolocalbypass.sh).
func TestNoLocalBypass(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		a := h.MustAddLink(t, "vxa", "id 10 local 192.0.2.1 dstport 4789 nolocalbypass")
		b := h.MustAddLink(t, "vxb", "id 20 local 192.0.2.1 dstport 4790")
		addFDB(t, a, macB, vtep1, 4790, 20, 0)
		f := udp4(0, 0, false)
		a.Send(f)
		expectFrames(t, b, f)
		if n := len(rec.take()); n != 1 {
			t.Errorf("%d packets sent, want 1", n)
		}
		if got := learnedAt(b, macA); got != vtep1 {
			t.Errorf("vxb learned %v behind %v, want %v", macA, got, vtep1)
		}
	})
}

// TestLinkDownFlushesDynamicEntries: bringing a link down deletes its
// dynamic entries but keeps static ones and the default entry
// (vxlan_stop). Meanwhile the link is in no socket's VNI table
// (vxlan_sock_release → vxlan_vs_del_dev): with another link up on the
// same socket, its packets are dropped as VNI_NOT_FOUND by the host, and
// the link counts nothing; once that link is down too, the socket is
// closed and the packets find no socket at all.
func TestLinkDownFlushesDynamicEntries(t *testing.T) {
	bubble(t, netlab.Options{}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")
		other := l2.Host.MustAddLink(t, "vx1", "id 43 local 192.0.2.2 dstport 4789")
		addFDB(t, l2, macC, vtep3, 0, 0, 0)
		f := netlab.ARPRequest(macA, ipA, ipB)
		l1.Send(f)
		expectFrames(t, l2, f)
		l2.SetUp(false)
		if learnedAt(l2, macA).IsValid() || !learnedAt(l2, macC).IsValid() || !learnedAt(l2, header.ZeroMAC).IsValid() {
			t.Errorf("after down: learned %v static %v default %v", learnedAt(l2, macA), learnedAt(l2, macC), learnedAt(l2, header.ZeroMAC))
		}
		l1.Send(f)
		expectFrames(t, l2)
		if n := l2.Host.VTEP.Stats().Map()["drop_vni_not_found"]; n != 1 || counter(l2, "drop_dev_ready") != 0 || counter(l2, "rx_dropped") != 0 {
			t.Errorf("drop_vni_not_found %d, want 1; link: drop_dev_ready %d rx_dropped %d, want 0", n, counter(l2, "drop_dev_ready"), counter(l2, "rx_dropped"))
		}
		if err := other.SetUp(false); err != nil {
			t.Fatal(err)
		}
		noSocket := lab.Net.Stats().NoRoute
		l1.Send(f)
		expectFrames(t, l2)
		if n := lab.Net.Stats().NoRoute - noSocket; n != 1 {
			t.Errorf("with every link of the port down, %d packets found no socket, want 1", n)
		}
		if n := l2.Host.VTEP.Stats().Map()["drop_vni_not_found"]; n != 1 {
			t.Errorf("drop_vni_not_found %d after the socket closed, want still 1", n)
		}
		if learnedAt(l2, macA).IsValid() {
			t.Errorf("a down link learned")
		}
		l2.SetUp(true)
		l1.Send(f)
		expectFrames(t, l2, f)
	})
}

// TestChangeRemoteKeepsAppendedRemotes: `ip link set vx0 type vxlan remote
// NEW` replaces the default remote and keeps the remotes appended to the
// all-zeros entry (test_vxlan_fdb_changelink.sh); what the kernel refuses
// to change is refused.
func TestChangeRemoteKeepsAppendedRemotes(t *testing.T) {
	rec := &recorder{}
	bubble(t, netlab.Options{Trace: rec.trace}, func(t *testing.T, lab *netlab.Lab) {
		l := oneLink(t, lab, "id 42 remote 192.0.2.2 dstport 4789")
		appendFDB(t, l, header.ZeroMAC, vtep3)
		if err := l.Change(withArgs(t, l, "remote 192.0.2.4 ttl 9")); err != nil {
			t.Fatal(err)
		}
		e, _ := l.FDB().Get(header.ZeroMAC, 42)
		var ips []netip.Addr
		for _, r := range e.Remotes() {
			ips = append(ips, r.IP)
		}
		if len(ips) != 2 || !containsAddr(ips, vtep3) || !containsAddr(ips, vtep4) {
			t.Errorf("default entry remotes %v, want 192.0.2.3 and 192.0.2.4", ips)
		}
		l.Send(netlab.ARPRequest(macA, ipA, ipB))
		recvAll(l)
		for _, s := range rec.take() {
			if o := decodeOuter(t, s.pkt); o.ttl != 9 {
				t.Errorf("new ttl not applied: %d", o.ttl)
			}
		}
		cfg := l.Config()
		cfg.VNI = 43
		if err := l.Change(cfg); err == nil {
			t.Errorf("changing the VNI succeeded")
		}
	})
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// TestOverlayPortFullCountsRXDropped: frames the overlay port refuses are
// dropped and counted as rx_dropped (the kernel's backlog drop in
// gro_cells_receive / netif_rx).
func TestOverlayPortFullCountsRXDropped(t *testing.T) {
	bubble(t, netlab.Options{PipeQueueLen: 2}, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")
		for i := range 5 {
			l1.Send(netlab.ARPRequest(macA, ipA, netip.AddrFrom4([4]byte{10, 1, 0, byte(10 + i)})))
			synctest.Wait()
		}
		got := recvAll(l2)
		if len(got) != 2 || counter(l2, "rx_packets") != 2 || counter(l2, "rx_dropped") != 3 || counter(l2, "drop_overlay_full") != 3 {
			t.Errorf("delivered %d, counters %v", len(got), l2.Stats().Map())
		}
	})
}

// TestLossReorderDuplicate runs unicast traffic over an underlay that
// loses, reorders and duplicates packets, and checks conservation: every
// frame that comes out is byte-identical to one that went in, and frames
// in = frames out + packets the network lost - duplicates it made.
func TestLossReorderDuplicate(t *testing.T) {
	opts := netlab.Options{Network: underlay.NetworkOptions{Seed: 42, Loss: 0.1, Reorder: 0.1, Duplicate: 0.1}}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		l1, l2 := twoHosts(t, lab, "")
		addFDB(t, l1, macB, vtep2, 0, 0, 0)
		rng := rand.New(rand.NewPCG(1, 2))
		sent := map[string]int{}
		const n = 500
		var order []int
		for i := range n {
			f := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macB, Src: ipA, Dst: ipB}, uint16(i), 9, payload(rng.IntN(1400)))
			sent[string(f)] = i
			l1.Send(f)
			if i%50 == 49 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		lab.Net.Flush()
		got := recvAll(l2)
		for _, f := range got {
			i, ok := sent[string(f.Data)]
			if !ok {
				t.Fatalf("received a frame that was never sent: %x", f.Data[:min(len(f.Data), 64)])
			}
			order = append(order, i)
		}
		s := lab.Net.Stats()
		if s.Lost == 0 || s.Duplicated == 0 || s.Reordered == 0 {
			t.Fatalf("knobs had no effect: %+v", s)
		}
		if uint64(len(got)) != n-s.Lost+s.Duplicated {
			t.Errorf("received %d, want %d sent - %d lost + %d duplicated", len(got), n, s.Lost, s.Duplicated)
		}
		if counter(l1, "tx_packets") != n || counter(l2, "rx_packets") != uint64(len(got)) {
			t.Errorf("tx_packets %d rx_packets %d", counter(l1, "tx_packets"), counter(l2, "rx_packets"))
		}
		inversions := 0
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				inversions++
			}
		}
		if inversions == 0 {
			t.Errorf("no frame arrived out of order")
		}
	})
}

// TestLocalBypassNeedsASocketBoundToTheRemotesInterface: local bypass
// looks for the target link on the socket bound to the interface the
// remote is sent out of (encap_bypass_if_local → vxlan_find_vni →
// vxlan_find_sock compares sk_bound_dev_if with rdst->remote_ifindex, or
// with the sender's own bound device when the remote names none). The
// default remote of a link with `dev`, and a remote with `via`, name an
// interface no socket is bound to, so the frame is dropped as a transmit
// error rather than looped back; a remote without one finds the target.
// Measured on Linux 6.18 with two kernel vxlans (VNI 10 with `remote` its
// own address and `dev v0`, VNI 20): pings through the default remote
// give VNI 10 tx errors and deliver nothing; an entry `dst` the own
// address `vni 20` delivers to VNI 20.
func TestLocalBypassNeedsASocketBoundToTheRemotesInterface(t *testing.T) {
	rec := &recorder{}
	ifindex := func(name string) int {
		if name == "eth0" {
			return 2
		}
		return 0
	}
	opts := netlab.Options{Trace: rec.trace, Host: func(_ string, o *vtep.HostOptions) { o.Ifindex = ifindex }}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		a := h.MustAddLink(t, "vxa", "id 10 local 192.0.2.1 remote 192.0.2.1 dev eth0 dstport 4789")
		b := h.MustAddLink(t, "vxb", "id 20 local 192.0.2.1 dstport 4789")
		toB := udp4(0, 0, false)
		toC := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macC, Src: ipA, Dst: ipC}, 1111, 2222, payload(40))

		// The default remote, out of eth0.
		a.Send(toB)
		expectFrames(t, b)
		expectFrames(t, a)
		if counter(a, "drop_bypass_no_link") != 1 || counter(a, "tx_errors") != 1 || counter(a, "tx_packets") != 0 {
			t.Errorf("default remote with dev: %v", a.Stats().Map())
		}
		// A remote with `via eth0`.
		err := a.FDB().Add(fdb.Request{MAC: macC, State: fdbPermanent, Flags: fdbSelf, Dst: vtep1, VNI: 20, HasVNI: true, Ifindex: 2})
		if err != nil {
			t.Fatal(err)
		}
		a.Send(toC)
		expectFrames(t, b)
		if counter(a, "drop_bypass_no_link") != 2 {
			t.Errorf("remote via eth0: %v", a.Stats().Map())
		}
		// A remote without an interface: the unbound socket, VNI 20.
		addFDB(t, a, macB, vtep1, 0, 20, 0)
		a.Send(toB)
		expectFrames(t, b, toB)
		if counter(a, "tx_packets") != 1 || counter(b, "rx_packets") != 1 {
			t.Errorf("remote without an interface: a %v\nb %v", a.Stats().Map(), b.Stats().Map())
		}
		if n := len(rec.take()); n != 0 {
			t.Errorf("%d packets reached the underlay", n)
		}
	})
}

// TestSocketsBoundToTheVRFOfTheLowerDevice: a link's sockets are bound to
// the L3 master device (VRF) of its lower device, and links share a socket
// only with the same bound device (vxlan_sock_add →
// l3mdev_master_upper_ifindex_by_index, vxlan_find_sock). The binding is
// looked at again each time the link comes up (vxlan_open), as
// test_vxlan_under_vrf.sh does after moving the underlay into a VRF. Local
// bypass through a remote without an interface looks on the socket bound
// to the sender's VRF.
func TestSocketsBoundToTheVRFOfTheLowerDevice(t *testing.T) {
	const eth0, eth1, vrf = 2, 3, 7
	var l3 sync.Map // ifindex → its L3 master
	l3.Store(eth0, vrf)
	opts := netlab.Options{Workers: 2, Host: func(_ string, o *vtep.HostOptions) {
		o.Ifindex = func(name string) int { return map[string]int{"eth0": eth0, "eth1": eth1}[name] }
		o.L3Master = func(i int) int {
			m, _ := l3.Load(i)
			v, _ := m.(int)
			return v
		}
	}}
	bubble(t, opts, func(t *testing.T, lab *netlab.Lab) {
		h := lab.MustAddHost(t, "h1", "192.0.2.1")
		a := h.MustAddLink(t, "vxa", "id 10 local 192.0.2.1 dev eth0 dstport 4789")
		b := h.MustAddLink(t, "vxb", "id 20 local 192.0.2.1 dev eth0 dstport 4789")
		c := h.MustAddLink(t, "vxc", "id 30 local 192.0.2.1 dev eth1 dstport 4790")
		key := func(port uint16, bind int) []vtep.SocketKey {
			return []vtep.SocketKey{{Port: port, Bind: bind}}
		}
		checkKeys := func(when string, l *netlab.Link, want []vtep.SocketKey) {
			t.Helper()
			if got := l.SocketKeys(); !slices.Equal(got, want) {
				t.Errorf("%s: %s sockets %v, want %v", when, l.Config().Name, got, want)
			}
		}
		checkKeys("up", a, key(4789, vrf))
		checkKeys("up", b, key(4789, vrf))
		checkKeys("up", c, key(4790, 0))

		toB := udp4(0, 0, false)
		toC := netlab.UDP(netlab.IP{SrcMAC: macA, DstMAC: macC, Src: ipA, Dst: ipC}, 1111, 2222, payload(40))
		addFDB(t, a, macB, vtep1, 0, 20, 0)
		addFDB(t, a, macC, vtep1, 4790, 30, 0)
		a.Send(toB)
		expectFrames(t, b, toB)
		// c's socket is not bound to the VRF.
		a.Send(toC)
		expectFrames(t, c)
		if counter(a, "drop_bypass_no_link") != 1 {
			t.Errorf("to a link outside the VRF: %v", a.Stats().Map())
		}

		// eth0 leaves the VRF: nothing changes until a link comes up
		// again.
		l3.Delete(eth0)
		checkKeys("eth0 out of the VRF", a, key(4789, vrf))
		for _, l := range []*netlab.Link{a, b} {
			if err := l.SetUp(false); err != nil {
				t.Fatal(err)
			}
			checkKeys("down", l, nil)
			if err := l.SetUp(true); err != nil {
				t.Fatal(err)
			}
			checkKeys("up again", l, key(4789, 0))
		}
		a.Send(toB)
		expectFrames(t, b, toB)
		a.Send(toC)
		expectFrames(t, c, toC)
		if counter(a, "drop_bypass_no_link") != 1 || counter(a, "tx_packets") != 3 {
			t.Errorf("after leaving the VRF: %v", a.Stats().Map())
		}
	})
}
