package interop

import (
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// mcLab is the switch of the kernel's vxlan_bridge_1q_mc_ul.sh, with the
// device under test in it: vx10 (VNI 1000) has local 192.0.2.100, the
// address of lo10, and group 233.252.0.1 on dev lo10; multicast routes
// can send its packets out of swp2 and swp3, towards the namespaces r2
// and r3. The selftest's lo10 is a dummy; a veth does as well (this
// kernel may have no dummy driver).
type mcLab struct {
	dut        kind
	fam        mcFamily
	sw         *nstest.NS
	vtepd      *nstest.Vtepd
	mr         *nstest.Mroute
	lo10, swp2 int
	swp3       int
	// Captures of the VXLAN packets out of lo10 and into r2 and r3.
	outLo10, inR2, inR3 *capture
}

// mcFamily is the underlay of an mcLab: vx10's local address (lo10's) and
// group, and the addresses of swp2 and swp3 and of their peers in r2 and
// r3. The IPv6 one is the selftest's ff0e::1:2:3 group.
type mcFamily struct {
	name               string
	local, group       netip.Addr
	lo10               netip.Prefix
	swp2, r2, swp3, r3 netip.Prefix
}

var (
	mcIPv4 = mcFamily{"ipv4", netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("233.252.0.1"),
		netip.MustParsePrefix("192.0.2.100/28"),
		netip.MustParsePrefix("192.0.2.33/28"), netip.MustParsePrefix("192.0.2.34/28"),
		netip.MustParsePrefix("192.0.2.65/28"), netip.MustParsePrefix("192.0.2.66/28")}
	mcIPv6 = mcFamily{"ipv6", netip.MustParseAddr("2001:db8:4::1"), netip.MustParseAddr("ff0e::1:2:3"),
		netip.MustParsePrefix("2001:db8:4::1/64"),
		netip.MustParsePrefix("2001:db8:2::1/64"), netip.MustParsePrefix("2001:db8:2::2/64"),
		netip.MustParsePrefix("2001:db8:3::1/64"), netip.MustParsePrefix("2001:db8:3::2/64")}
)

func newMCLab(t *testing.T, dut kind, fam mcFamily) *mcLab {
	t.Helper()
	nstest.RequireTools(t, "bridge")
	if dut.isVtep() {
		requireVtep(t)
	}
	l := &mcLab{dut: dut, fam: fam, sw: nstest.NewNS(t, "mcsw")}
	r2, r3 := nstest.NewNS(t, "mcr2"), nstest.NewNS(t, "mcr3")
	l.sw.IP(t, "link", "add", "lo10", "up", "type", "veth", "peer", "name", "lo10p")
	l.sw.LinkUp(t, "lo10p")
	l.sw.AddAddr(t, "lo10", fam.lo10)
	nstest.AddVeth(t, l.sw, r2, nstest.Veth{NameA: "swp2", NameB: ulDev,
		AddrsA: []netip.Prefix{fam.swp2}, AddrsB: []netip.Prefix{fam.r2}})
	nstest.AddVeth(t, l.sw, r3, nstest.Veth{NameA: "swp3", NameB: ulDev,
		AddrsA: []netip.Prefix{fam.swp3}, AddrsB: []netip.Prefix{fam.r3}})
	l.lo10, l.swp2, l.swp3 = l.sw.Ifindex(t, "lo10"), l.sw.Ifindex(t, "swp2"), l.sw.Ifindex(t, "swp3")
	var err error
	if l.mr, err = l.sw.OpenMroute(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.mr.Close)
	// Only the frames flood sends: vx10's own IPv6 traffic (MLD, router
	// solicitations) may be late.
	isVX := func(f []byte) bool {
		p, ok := parseVXLAN(f, defaultPort)
		return ok && len(p.Inner) >= header.EthernetSize && p.Inner[12] == 0x88 && p.Inner[13] == 0xb5
	}
	l.outLo10 = startCapture(t, l.sw, "lo10", outgoing, isVX)
	l.inR2 = startCapture(t, r2, ulDev, incoming, isVX)
	l.inR3 = startCapture(t, r3, ulDev, incoming, isVX)
	// Only the test's frames may reach the group: no IPv6 on vx10 (MLD,
	// router solicitations).
	l.sw.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
	if dut.isVtep() {
		l.vtepd = nstest.StartVtepd(t, l.sw, vtepBins, dut.vtepdOptions())
	}
	return l
}

// vifs makes lo10, swp2 and swp3 vifs, as smcrouted does for the
// interfaces of its routes.
func (l *mcLab) vifs(t *testing.T) {
	t.Helper()
	for _, d := range []int{l.lo10, l.swp2, l.swp3} {
		if err := l.mr.AddVif(d); err != nil {
			t.Fatal(err)
		}
	}
}

// mfc installs a cache entry (Mroute.AddMFC).
func (l *mcLab) mfc(t *testing.T, src, group netip.Addr, iif int, oifs ...int) {
	t.Helper()
	if err := l.mr.AddMFC(src, group, iif, oifs...); err != nil {
		t.Fatal(err)
	}
}

// run runs a command on vx10 with ip(8) or bridge(8), or vtep(8).
func (l *mcLab) run(t *testing.T, tool string, args ...string) {
	t.Helper()
	switch {
	case l.dut.isVtep():
		l.vtepd.Run(t, args...)
	case tool == "bridge":
		l.sw.Bridge(t, args...)
	default:
		l.sw.IP(t, args...)
	}
}

// addLink creates vx10 as the selftest's vx_create does (ttl 16, unless
// extra has a ttl) with extra arguments, and sets it up.
func (l *mcLab) addLink(t *testing.T, extra ...string) {
	t.Helper()
	args := []string{"link", "add", "vx10", "type", "vxlan", "id", "1000", "dstport", "4789",
		"local", l.fam.local.String(), "group", l.fam.group.String(), "dev", "lo10", "nolearning"}
	if !slices.Contains(extra, "ttl") {
		args = append(args, "ttl", "16")
	}
	mcroute := slices.Contains(extra, "mcroute")
	if mcroute && !l.dut.isVtep() && !ipKnowsMCRoute(t) {
		extra = slices.DeleteFunc(slices.Clone(extra), func(a string) bool { return a == "mcroute" })
	}
	args = append(args, extra...)
	l.run(t, "ip", args...)
	if l.dut.isVtep() {
		l.sw.WaitLink(t, "vx10")
	} else if mcroute && !ipKnowsMCRoute(t) {
		l.setMCRoute(t)
	}
	l.sw.LinkUp(t, "vx10")
}

// setMCRoute runs `ip link set vx10 type vxlan mcroute`.
func (l *mcLab) setMCRoute(t *testing.T) {
	t.Helper()
	if l.dut.isVtep() || ipKnowsMCRoute(t) {
		l.run(t, "ip", "link", "set", "vx10", "type", "vxlan", "mcroute")
		return
	}
	if err := l.sw.Do(func() error { return kernelSetMCRoute("vx10") }); err != nil {
		t.Fatalf("ip link set vx10 type vxlan mcroute: %v", err)
	}
}

// Netlink values of include/uapi/linux/if_link.h.
const (
	iflaLinkinfo     = 18
	iflaInfoKind     = 1
	iflaInfoData     = 2
	iflaVXLANMCRoute = 34
)

// kernelSetMCRoute turns on mcroute on the kernel's vxlan device dev with
// an RTM_NEWLINK message (IFLA_VXLAN_MC_ROUTE, changeable), as ip(8) from
// iproute2 6.15 on sends it; the iproute2 of the test machines is older.
func kernelSetMCRoute(dev string) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(syscall.RTM_NEWLINK, syscall.NLM_F_ACK)
	msg := nl.NewIfInfomsg(syscall.AF_UNSPEC)
	msg.Index = int32(ifi.Index)
	req.AddData(msg)
	info := nl.NewRtAttr(iflaLinkinfo, nil)
	info.AddRtAttr(iflaInfoKind, []byte("vxlan"))
	data := info.AddRtAttr(iflaInfoData, nil)
	data.AddRtAttr(iflaVXLANMCRoute, []byte{1})
	req.AddData(info)
	_, err = req.Execute(syscall.NETLINK_ROUTE, 0)
	return err
}

// flood sends n broadcast frames into vx10 and returns how many VXLAN
// packets left by lo10 and reached r2 and r3, checking the TTL of those
// that reached them.
func (l *mcLab) flood(t *testing.T, n int, wantTTL uint8) (lo10, r2, r3 int) {
	t.Helper()
	cs := []*capture{l.outLo10, l.inR2, l.inR3}
	settle(t, cs...)
	for _, c := range cs {
		c.Reset()
	}
	src := header.MAC{0x02, 0, 0, 0, 0x0a, 1}
	var frames [][]byte
	for i := range n {
		f := make([]byte, 60)
		copy(f, header.BroadcastMAC[:])
		copy(f[6:], src[:])
		f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
		f[14] = byte(i)
		frames = append(frames, f)
	}
	sendFrames(t, l.sw, "vx10", frames...)
	time.Sleep(100 * time.Millisecond)
	settle(t, cs...)
	for _, c := range []*capture{l.inR2, l.inR3} {
		for _, f := range c.Frames() {
			if p, ok := parseVXLAN(f, defaultPort); ok && (p.TTL != wantTTL || p.Src != l.fam.local || p.Dst != l.fam.group) {
				t.Errorf("%s: %v -> %v TTL %d, want %v -> %v TTL %d", c.name, p.Src, p.Dst, p.TTL, l.fam.local, l.fam.group, wantTTL)
			}
		}
	}
	return l.outLo10.Count(), l.inR2.Count(), l.inR3.Count()
}

// wantCounted checks that the cache entries together count n of flood's
// packets, and wrong of them as on the wrong interface
// (/proc/net/ip_mr_cache, what `ip -s mroute` and SIOCGETSGCNT report).
func (l *mcLab) wantCounted(t *testing.T, n int, wrong uint64) {
	t.Helper()
	size := 20 + 8 + 8 + 60 // IPv4, UDP, VXLAN, the frame
	if l.fam.group.Is6() {
		size += 20
	}
	var s nstest.MFCStats
	for _, e := range l.sw.MFCStats(t, l.fam.group.Is6()) {
		s.Pkts += e.Pkts
		s.Bytes += e.Bytes
		s.Wrong += e.Wrong
	}
	if s.Pkts != uint64(n) || s.Bytes != uint64(n*size) || s.Wrong != wrong {
		t.Errorf("cache entries count %d packets, %d bytes, %d on the wrong interface; want %d, %d, %d",
			s.Pkts, s.Bytes, s.Wrong, n, n*size, wrong)
	}
}

// ipKnowsMCRoute reports whether ip(8) has the vxlan option mcroute.
func ipKnowsMCRoute(t *testing.T) bool {
	out, _ := exec.Command("ip", "link", "help", "vxlan").CombinedOutput()
	return strings.Contains(string(out), "mcroute")
}

// TestMCRoute runs the transmit scenarios of the kernel's
// vxlan_bridge_1q_mc_ul.sh against the kernel and vtep as the device under
// test: with mcroute (VXLAN_F_MC_ROUTE → IPSKB_MCROUTE → ip_mr_output) the
// packets to the group follow the multicast forwarding cache instead of
// leaving by dev. The cache entries are installed with a routing socket
// as smcrouted would.
//   - ipv4_nomcroute: an (S, G) entry exists, but without mcroute the
//     packets leave by lo10 only.
//   - ipv4_mcroute: the (S, G) entry sends each packet out of swp2 and swp3
//     (TTL 16 − 1), none out of lo10.
//   - ipv4_mcroute_changelink: mcroute set on an existing device.
//   - ipv4_mcroute_fdb_oif0: the all-zeros entry without an interface;
//     the route to the group from 192.0.2.100 leaves by lo10 all the same.
//   - (*, G) with lo10 among its outgoing interfaces (mr_mfc_find_any):
//     out of lo10, swp2 and swp3.
//   - ipv4_mcroute_noroute, with lo10 a vif: the packets wait for the
//     daemon (ipmr_cache_unresolved) and go nowhere.
//   - the default TTL of a group (1) is not above the entries' threshold
//     (1): nothing is forwarded.
func TestMCRoute(t *testing.T) {
	const n = 5
	for _, tc := range []struct {
		name         string
		setup        func(t *testing.T, l *mcLab)
		lo10, r2, r3 int
		ttl          uint8
		// counted is how many of the packets the cache entries count
		// (ip_mr_output_finish: every packet an entry forwards, whether
		// or not a copy passes a threshold).
		counted int
		// wrong6 is how many more an IPv6 (S, G) entry counts, all on the
		// wrong interface: the copies out of lo10 coming in by its peer
		// lo10p, which IPv6 multicast routing sees (its mc_forwarding is
		// the namespace's, IPv4's the device's).
		wrong6 int
	}{
		{"nomcroute", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.local, l.fam.group, l.swp2, l.lo10, l.swp3) // misleading (broken_sg)
			l.mfc(t, l.fam.local, l.fam.group, l.lo10, l.swp2, l.swp3)
			l.addLink(t)
		}, n, 0, 0, 0, 0, n},
		{"mcroute", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.local, l.fam.group, l.lo10, l.swp2, l.swp3)
			l.addLink(t, "mcroute")
		}, 0, n, n, 15, n, 0},
		{"changelink", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.local, l.fam.group, l.lo10, l.swp2, l.swp3)
			l.addLink(t)
			l.setMCRoute(t)
		}, 0, n, n, 15, n, 0},
		{"fdb_oif0", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.local, l.fam.group, l.lo10, l.swp2, l.swp3)
			l.addLink(t, "mcroute")
			l.run(t, "bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vx10")
			l.run(t, "bridge", "fdb", "add", "00:00:00:00:00:00", "dev", "vx10", "dst", l.fam.group.String())
		}, 0, n, n, 15, n, 0},
		{"starg", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.any(), l.fam.group, l.lo10, l.lo10, l.swp2, l.swp3)
			l.addLink(t, "mcroute")
		}, n, n, n, 15, n, 0},
		{"noroute", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.addLink(t, "mcroute")
		}, 0, 0, 0, 0, 0, 0},
		{"ttl1", func(t *testing.T, l *mcLab) {
			l.vifs(t)
			l.mfc(t, l.fam.local, l.fam.group, l.lo10, l.swp2, l.swp3)
			l.addLink(t, "mcroute", "ttl", "auto")
		}, 0, 0, 0, 0, n, 0},
	} {
		for _, fam := range []mcFamily{mcIPv4, mcIPv6} {
			t.Run(tc.name+"/"+fam.name, func(t *testing.T) {
				runKinds(t, func(t *testing.T, dut kind) {
					l := newMCLab(t, dut, fam)
					tc.setup(t, l)
					lo10, r2, r3 := l.flood(t, n, tc.ttl)
					if lo10 != tc.lo10 || r2 != tc.r2 || r3 != tc.r3 {
						t.Errorf("VXLAN packets out of lo10 %d, into r2 %d, into r3 %d; want %d, %d, %d",
							lo10, r2, r3, tc.lo10, tc.r2, tc.r3)
					}
					if fam.group.Is6() {
						l.wantCounted(t, tc.counted+tc.wrong6, uint64(tc.wrong6))
					} else {
						l.wantCounted(t, tc.counted, 0)
					}
				}, kindKernel, kindVtep)
			})
		}
	}
}

// any is the unspecified address of the family, the source of (*, G).
func (f mcFamily) any() netip.Addr {
	if f.group.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// runMCLabs runs fn for the kernel and vtep over both underlays.
func runMCLabs(t *testing.T, fn func(t *testing.T, dut kind, fam mcFamily)) {
	for _, fam := range []mcFamily{mcIPv4, mcIPv6} {
		t.Run(fam.name, func(t *testing.T) {
			runKinds(t, func(t *testing.T, dut kind) { fn(t, dut, fam) }, kindKernel, kindVtep)
		})
	}
}

// TestMCRouteAsksTheDaemon: with lo10 a vif and no cache entry for
// (192.0.2.100, 233.252.0.1), a packet of a link with mcroute is reported
// to the routing daemon (ipmr_cache_unresolved → IGMPMSG_NOCACHE, with
// lo10's vif), which installs an (S, G) entry out of swp2 and swp3, as
// smcrouted does for its (*, G) rules (`mroute from lo10 group
// 233.252.0.1 to swp2 swp3`); the packets after it follow the entry. The
// reported packet is held and sent, with the TTL less one, once the entry
// is in (ipmr_cache_resolve).
func TestMCRouteAsksTheDaemon(t *testing.T) { runMCLabs(t, askTheDaemon) }

func askTheDaemon(t *testing.T, dut kind, fam mcFamily) {
	const n = 5
	l := newMCLab(t, dut, fam)
	l.vifs(t)
	type answer struct {
		u   nstest.Upcall
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		u, err := l.mr.ReadUpcall(fam.group.Is6(), 5*time.Second)
		if err == nil && u.Type == nstest.UpcallNoCache {
			err = l.mr.AddMFC(u.Src, u.Group, u.Ifindex, l.swp2, l.swp3)
		}
		answered <- answer{u, err}
	}()
	l.addLink(t, "mcroute")
	// The packet that asked is held, and sent once the entry is in
	// (ipmr_cache_resolve).
	if lo10, r2, r3 := l.flood(t, 1, 15); lo10 != 0 || r2 != 1 || r3 != 1 {
		t.Errorf("first frame: VXLAN packets out of lo10 %d, into r2 %d, into r3 %d; want 0, 1, 1", lo10, r2, r3)
	}
	a := <-answered
	if a.err != nil {
		t.Fatal(a.err)
	}
	if want := (nstest.Upcall{Type: nstest.UpcallNoCache, Ifindex: l.lo10, Src: fam.local, Group: fam.group}); a.u != want {
		t.Errorf("upcall %+v, want %+v", a.u, want)
	}
	time.Sleep(200 * time.Millisecond) // vtepd sees the entry
	if lo10, r2, r3 := l.flood(t, n, 15); lo10 != 0 || r2 != n || r3 != n {
		t.Errorf("after the entry: VXLAN packets out of lo10 %d, into r2 %d, into r3 %d; want 0, %d, %d", lo10, r2, r3, n, n)
	}
	l.wantCounted(t, 1+n, 0) // the held packet too (ipmr_cache_resolve → ip_mr_forward)
}

// TestMCRouteHeldPacketOnTheWrongInterface: the daemon, with asserts on
// as pimd runs it, answers the upcall with an (S, G) entry whose incoming
// interface is swp2, while the packet leaves by lo10, which is among the
// entry's outgoing interfaces. The held packet is then dropped
// (ipmr_cache_resolve → ip_mr_forward, "wrong interface"):
//   - over IPv4 silently, as the host's own packet (rt_is_output_route);
//   - over IPv6, which has no such check in ip6_mr_forward, after counting
//     it in the entry's Wrong and telling the daemon (MRT6MSG_WRONGMIF,
//     with lo10's mif).
//
// The packets after it find the entry and, as it is on another interface,
// leave by lo10 as without mcroute (ip_mr_output → ip_mc_output).
func TestMCRouteHeldPacketOnTheWrongInterface(t *testing.T) { runMCLabs(t, heldOnTheWrongInterface) }

func heldOnTheWrongInterface(t *testing.T, dut kind, fam mcFamily) {
	const n = 5
	v6 := fam.group.Is6()
	l := newMCLab(t, dut, fam)
	l.vifs(t)
	if err := l.mr.SetAssert(); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		upcalls []nstest.Upcall
		err     error
	}
	answered := make(chan answer, 1)
	go func() {
		u, err := l.mr.ReadUpcall(v6, 5*time.Second)
		if err == nil && u.Type == nstest.UpcallNoCache {
			err = l.mr.AddMFC(u.Src, u.Group, l.swp2, l.lo10, l.swp3)
		}
		a := answer{[]nstest.Upcall{u}, err}
		for a.err == nil {
			u, err := l.mr.ReadUpcall(v6, time.Second)
			if err != nil {
				break // none in a second: the last
			}
			a.upcalls = append(a.upcalls, u)
		}
		answered <- a
	}()
	l.addLink(t, "mcroute")
	if lo10, r2, r3 := l.flood(t, 1, 15); lo10 != 0 || r2 != 0 || r3 != 0 {
		t.Errorf("first frame: VXLAN packets out of lo10 %d, into r2 %d, into r3 %d; want none", lo10, r2, r3)
	}
	a := <-answered
	if a.err != nil {
		t.Fatal(a.err)
	}
	want := []nstest.Upcall{{Type: nstest.UpcallNoCache, Ifindex: l.lo10, Src: fam.local, Group: fam.group}}
	var wrong uint64
	if v6 {
		want = append(want, nstest.Upcall{Type: nstest.UpcallWrongVif, Ifindex: l.lo10, Src: fam.local, Group: fam.group})
		wrong = 1
	}
	if !slices.Equal(a.upcalls, want) {
		t.Errorf("upcalls %+v, want %+v", a.upcalls, want)
	}
	l.wantCounted(t, 1, wrong)
	time.Sleep(200 * time.Millisecond) // vtepd sees the entry
	if lo10, r2, r3 := l.flood(t, n, 15); lo10 != n || r2 != 0 || r3 != 0 {
		t.Errorf("after the entry: VXLAN packets out of lo10 %d, into r2 %d, into r3 %d; want %d, 0, 0", lo10, r2, r3, n)
	}
}
