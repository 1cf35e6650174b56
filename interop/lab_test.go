package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// kind is the implementation behind a host's overlay device.
type kind string

const (
	kindKernel kind = "kernel" // the kernel's vxlan driver
	kindVtep   kind = "vtep"   // a vtepd link (TAP)
	// kindVtepNoOffload is a vtepd link with `vtepd -offload off`: a
	// plain TAP (no virtio_net_hdr, so no GSO super-frames in and no GRO
	// out) and UDP sockets without GSO and GRO, one packet per datagram.
	kindVtepNoOffload kind = "vtep-nooffload"
	// kindVtepTGSO is a vtepd link with `vtepd -tunnel-gso on`: TCP
	// super-frames leave whole, as UDP tunnel GSO packets.
	kindVtepTGSO kind = "vtep-tgso"
	// kindVtepEBPF is a vtepd link with `vtepd -ebpf on`: frames to known
	// unicast MACs are encapsulated by a tc program on the TAP.
	kindVtepEBPF kind = "vtep-ebpf"
)

// isVtep reports whether the host runs vtepd, with or without offloads.
func (k kind) isVtep() bool {
	return k == kindVtep || k == kindVtepNoOffload || k == kindVtepTGSO || k == kindVtepEBPF
}

// vtepdOptions are the vtepd options of a vtep kind.
func (k kind) vtepdOptions() nstest.VtepdOptions {
	switch k {
	case kindVtepNoOffload:
		return nstest.VtepdOptions{Offload: "off"}
	case kindVtepTGSO:
		return nstest.VtepdOptions{Args: []string{"-tunnel-gso", "on"}}
	case kindVtepEBPF:
		return nstest.VtepdOptions{Args: []string{"-ebpf", "on"}}
	}
	return nstest.VtepdOptions{}
}

// Lab constants. Host i (1-based) has underlay 10.0.0.i/24 and fd00::i/64
// on ul0, overlay 192.0.2.i/24 and 2001:db8:1::i/64 on vx0, and vx0's MAC is
// 02:00:00:00:01:0i.
const (
	vxDev       = "vx0"
	ulDev       = "ul0"
	labVNI      = 1000
	defaultPort = 4789
)

// forEachKind runs fn as one subtest per overlay kind of the device under
// test: "kernel" (kernel↔kernel, proving the harness) and "vtep" (vtep
// against kernel peers).
func forEachKind(t *testing.T, fn func(t *testing.T, dut kind)) {
	runKinds(t, fn, kindKernel, kindVtep)
}

// forEachKindNoOffload is forEachKind plus "vtep-nooffload", vtep with
// its TAP and UDP offloads off, for the tests whose traffic the offloads
// change: the same frames must cross the overlay with and without them.
func forEachKindNoOffload(t *testing.T, fn func(t *testing.T, dut kind)) {
	runKinds(t, fn, kindKernel, kindVtep, kindVtepNoOffload)
}

func runKinds(t *testing.T, fn func(t *testing.T, dut kind), kinds ...kind) {
	nstest.SkipUnlessRoot(t)
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) { fn(t, k) })
	}
}

// labConfig describes a lab.
type labConfig struct {
	// kinds has one entry per host; host i+1 has kinds[i].
	kinds []kind
	// ipv6 selects the IPv6 underlay (local/remote fd00::i).
	ipv6 bool
	// linkLocal, with ipv6, makes the VTEP addresses link-local (fe80::i
	// on ul0), and the flood entries name their interface (via ul0).
	linkLocal bool
	// port is the VXLAN destination port; 0 means 4789.
	port uint16
	// omitPort leaves dstport out of host 1's link arguments, so that it
	// uses its implementation's default (implDefaultPort); the other hosts
	// are given that port explicitly.
	omitPort bool
	// args returns extra `type vxlan` arguments for a host.
	args func(h *host) []string
	// vethOffload keeps transmit checksum offload on the underlay veths.
	// By default it is turned off (see newLab).
	vethOffload bool
	// loopbackVTEP, with ipv6, puts each VTEP address (fd00::i/128) on lo
	// and leaves ul0 only its link-local address, routing the other hosts'
	// VTEP addresses by theirs, as a BGP-unnumbered fabric does.
	loopbackVTEP bool
	// group, if valid, is every link's `group` (with dev ul0), in place
	// of the head-end replication entries.
	group netip.Addr
}

// lab is a set of VTEP hosts on one underlay segment.
type lab struct {
	cfg   labConfig
	sw    *nstest.NS
	hosts []*host
}

// host is one VTEP namespace.
type host struct {
	lab   *lab
	idx   int
	kind  kind
	ns    *nstest.NS
	vtepd *nstest.Vtepd // vtep kinds only
	mac   header.MAC
}

// Underlay returns the host's VTEP address in the lab's underlay family.
func (h *host) Underlay() netip.Addr {
	if h.lab.cfg.ipv6 && h.lab.cfg.linkLocal {
		return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: byte(h.idx)})
	}
	if h.lab.cfg.ipv6 {
		return netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(h.idx)})
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, byte(h.idx)})
}

// In4 and In6 are the host's overlay addresses on vx0.
func (h *host) In4() netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(h.idx)}) }
func (h *host) In6() netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(h.idx)})
}

// Port is the lab's VXLAN destination port.
func (l *lab) Port() uint16 {
	switch {
	case l.cfg.omitPort:
		return implDefaultPort(l.cfg.kinds[0])
	case l.cfg.port != 0:
		return l.cfg.port
	}
	return defaultPort
}

// implDefaultPort is the destination port a device gets without dstport:
// the kernel's udp_port module parameter default, 8472 (vxlan_core.c), and
// for vtep config.DefaultPort, which deliberately is the IANA port 4789
// (RFC 7348 §5 "SHOULD be used by default").
func implDefaultPort(k kind) uint16 {
	if k.isVtep() {
		return config.DefaultPort
	}
	return config.KernelDefaultPort
}

// newLab builds the lab: a switch namespace with bridge br0, and one
// namespace per host joined to it by a veth (ul0 on the host side), a vtepd
// in each vtep host, and vx0 on every host with an all-zeros entry towards
// every other host (see labConfig).
func newLab(t *testing.T, cfg labConfig) *lab {
	t.Helper()
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "bridge", "ping", "ethtool")
	if slices.ContainsFunc(cfg.kinds, kind.isVtep) {
		requireVtep(t)
	}
	l := &lab{cfg: cfg}
	l.sw = nstest.NewNS(t, "sw")
	l.sw.IP(t, "link", "add", "br0", "type", "bridge")
	l.sw.LinkUp(t, "br0")
	for i, k := range cfg.kinds {
		h := &host{lab: l, idx: i + 1, kind: k, mac: header.MAC{0x02, 0, 0, 0, 0x01, byte(i + 1)}}
		h.ns = nstest.NewNS(t, "h"+strconv.Itoa(h.idx))
		h.ns.DisableDAD(t)
		h.ns.Sysctl(t, "net.ipv4.icmp_echo_ignore_broadcasts", "0")
		port := "p" + strconv.Itoa(h.idx)
		addrs := []netip.Prefix{
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(h.idx)}), 24),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(h.idx)}), 64),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: byte(h.idx)}), 64),
		}
		if cfg.loopbackVTEP {
			h.ns.AddAddr(t, "lo", netip.PrefixFrom(addrs[1].Addr(), 128))
			addrs = slices.Delete(addrs, 1, 2)
		}
		nstest.AddVeth(t, h.ns, l.sw, nstest.Veth{NameA: ulDev, NameB: port, AddrsA: addrs})
		l.sw.IP(t, "link", "set", port, "master", "br0")
		if !cfg.vethOffload {
			// A physical link carries finished checksums. A veth
			// with checksum offload hands CHECKSUM_PARTIAL packets
			// across, and a UDP socket receiving one (vtepd's) gets
			// unfinished inner checksums that nobody will complete;
			// TestTCPWithVethChecksumOffload covers that case.
			h.ns.Run(t, "ethtool", "-K", ulDev, "tx", "off")
		}
		if k.isVtep() {
			h.vtepd = nstest.StartVtepd(t, h.ns, vtepBins, k.vtepdOptions())
		}
		l.hosts = append(l.hosts, h)
	}
	if cfg.loopbackVTEP {
		for _, h := range l.hosts {
			for _, o := range l.hosts {
				if o != h {
					ll := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: byte(o.idx)})
					h.ns.IP(t, "-6", "route", "add", o.Underlay().String()+"/128", "via", ll.String(), "dev", ulDev)
				}
			}
		}
	}
	for _, h := range l.hosts {
		args := h.baseArgs()
		if cfg.group.IsValid() {
			args = append(args, "group", cfg.group.String())
		}
		if cfg.args != nil {
			args = append(args, cfg.args(h)...)
		}
		h.AddLink(t, args...)
	}
	// Head-end replication: every host floods to every other one.
	for _, h := range l.hosts {
		if cfg.group.IsValid() {
			break
		}
		for _, o := range l.hosts {
			if o != h {
				args := []string{"dst", o.Underlay().String()}
				if cfg.linkLocal {
					args = append(args, "via", ulDev)
				}
				h.FDB(t, "append", header.ZeroMAC.String(), args...)
			}
		}
	}
	return l
}

// baseArgs are the `type vxlan` arguments every lab link has.
func (h *host) baseArgs() []string {
	args := []string{"id", strconv.Itoa(labVNI)}
	if !h.lab.cfg.omitPort || h.idx != 1 {
		args = append(args, "dstport", strconv.Itoa(int(h.lab.Port())))
	}
	return append(args, "local", h.Underlay().String(), "dev", ulDev)
}

// String names the host in messages: "h1(vtep)".
func (h *host) String() string { return fmt.Sprintf("h%d(%s)", h.idx, h.kind) }

// AddLink creates vx0 with the given `type vxlan` arguments and the host's
// MAC, adds the overlay addresses and sets it up with ip(8), which for a
// vtep link acts on its TAP.
func (h *host) AddLink(t testing.TB, args ...string) {
	t.Helper()
	full := append([]string{"link", "add", vxDev, "address", h.mac.String(), "type", "vxlan"}, args...)
	switch h.kind {
	case kindKernel:
		h.ns.IP(t, full...)
	default:
		h.vtepd.Run(t, full...)
		h.ns.WaitLink(t, vxDev)
	}
	h.ns.AddAddr(t, vxDev, netip.PrefixFrom(h.In4(), 24), netip.PrefixFrom(h.In6(), 64))
	h.ns.LinkUp(t, vxDev)
}

// SetLink changes vx0: `ip link set vx0 type vxlan ARGS` or `vtep link set
// vx0 type vxlan ARGS`.
func (h *host) SetLink(t testing.TB, args ...string) {
	t.Helper()
	full := append([]string{"link", "set", vxDev, "type", "vxlan"}, args...)
	switch h.kind {
	case kindKernel:
		h.ns.IP(t, full...)
	default:
		h.vtepd.Run(t, full...)
	}
}

// FDB runs an FDB command on vx0 in bridge(8)'s grammar: FDB(t, "append",
// "00:00:00:00:00:00", "dst", "10.0.0.2") is `bridge fdb append
// 00:00:00:00:00:00 dev vx0 dst 10.0.0.2` or the same with vtep.
func (h *host) FDB(t testing.TB, op, mac string, args ...string) {
	t.Helper()
	full := append([]string{"fdb", op, mac, "dev", vxDev}, args...)
	switch h.kind {
	case kindKernel:
		h.ns.Bridge(t, full...)
	default:
		h.vtepd.Run(t, full...)
	}
}

// fdbEntry is one element of `bridge -j fdb show`.
type fdbEntry struct {
	MAC    string   `json:"mac"`
	Ifname string   `json:"ifname"`
	Dst    string   `json:"dst"`
	Port   int      `json:"port"`
	VNI    int      `json:"vni"`
	Flags  []string `json:"flags"`
	Master string   `json:"master"`
	State  string   `json:"state"`
	NHID   int      `json:"nhid"`
	Via    string   `json:"viaIf"` // bridge -j: the `via` interface
}

func (e fdbEntry) String() string {
	return fmt.Sprintf("%s dst %s state %q flags %v", e.MAC, e.Dst, e.State, e.Flags)
}

// FDBShow returns vx0's own (self) FDB entries: `bridge -j fdb show dev
// vx0` or `vtep -j fdb show dev vx0`.
func (h *host) FDBShow(t testing.TB) []fdbEntry {
	t.Helper()
	var out string
	switch h.kind {
	case kindKernel:
		out = h.ns.Bridge(t, "-j", "fdb", "show", "dev", vxDev)
	default:
		out = h.vtepd.Run(t, "-j", "fdb", "show", "dev", vxDev)
	}
	var es []fdbEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("%v: parsing fdb show: %v\n%s", h, err, out)
	}
	// The kernel also lists the bridge's entries for a bridge port
	// (master br0); keep vx0's own.
	return slices.DeleteFunc(es, func(e fdbEntry) bool { return e.Master != "" })
}

// FindFDB returns the entries of vx0 for mac.
func (h *host) FindFDB(t testing.TB, mac header.MAC) []fdbEntry {
	t.Helper()
	var found []fdbEntry
	for _, e := range h.FDBShow(t) {
		if m, err := header.ParseMAC(e.MAC); err == nil && m == mac {
			found = append(found, e)
		}
	}
	return found
}

// linkStats are vx0's counters: the kernel's rtnl_link_stats64 subset that
// `ip -s link` shows, and for vtep links every counter `vtep -s link show`
// adds (drop reasons).
type linkStats struct {
	RX, TX nstest.LinkCounters
	Vtep   map[string]uint64
}

// Stats returns vx0's counters: `ip -j -s link show dev vx0` or `vtep -j -s
// link show vx0`.
func (h *host) Stats(t testing.TB) linkStats {
	t.Helper()
	return h.statsOf(t, vxDev)
}

// statsOf returns the counters of the host's link named name.
func (h *host) statsOf(t testing.TB, name string) linkStats {
	t.Helper()
	switch h.kind {
	case kindKernel:
		st := h.ns.LinkStats(t, name)
		return linkStats{RX: st.RX, TX: st.TX}
	default:
		out := h.vtepd.Run(t, "-j", "-s", "link", "show", name)
		var links []struct {
			Stats64 *struct {
				RX nstest.LinkCounters `json:"rx"`
				TX nstest.LinkCounters `json:"tx"`
			} `json:"stats64"`
			VtepStats map[string]uint64 `json:"vtep_stats"`
		}
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 || links[0].Stats64 == nil {
			t.Fatalf("%v: parsing vtep -j -s link show: %v\n%s", h, err, out)
		}
		return linkStats{RX: links[0].Stats64.RX, TX: links[0].Stats64.TX, Vtep: links[0].VtepStats}
	}
}

// Ping runs ping from the host with extra ping arguments (-Q, -m, -b …)
// and returns its summary; packet loss is not an error.
func (h *host) Ping(t testing.TB, dst netip.Addr, opt nstest.PingOptions, extra ...string) nstest.PingResult {
	t.Helper()
	args := pingArgs(opt, dst, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.ns.Exec(ctx, "ping", args...)
	res, perr := nstest.ParsePing(out)
	if perr != nil {
		t.Fatalf("%v: ping %s: %v %v\n%s", h, strings.Join(args, " "), err, perr, out)
	}
	return res
}

// pingArgs are ping's arguments for opt with extra ones (-Q, -t …) before
// the destination.
func pingArgs(opt nstest.PingOptions, dst netip.Addr, extra ...string) []string {
	args := opt.Args(dst)
	return append(append(args[:len(args)-1:len(args)-1], extra...), dst.String())
}

// PingOK pings dst and fails the test unless every request was answered.
func (h *host) PingOK(t testing.TB, dst netip.Addr, extra ...string) {
	t.Helper()
	res := h.Ping(t, dst, nstest.PingOptions{Count: 3, Interval: 50 * time.Millisecond, Wait: 2 * time.Second}, extra...)
	if res.Transmitted == 0 || res.Received < res.Transmitted {
		for _, o := range h.lab.hosts {
			o.logCounters(t)
		}
		t.Fatalf("%v: ping %s %v: %d transmitted, %d received (%.0f%% loss)",
			h, dst, extra, res.Transmitted, res.Received, res.Loss)
	}
}

// logCounters logs vx0's non-zero counters, to explain a failure.
func (h *host) logCounters(t testing.TB) {
	t.Helper()
	st := h.Stats(t)
	var b strings.Builder
	fmt.Fprintf(&b, "rx %+v tx %+v", st.RX, st.TX)
	names := make([]string, 0, len(st.Vtep))
	for n, v := range st.Vtep {
		if v != 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, " %s=%d", n, st.Vtep[n])
	}
	t.Logf("%v vx0 counters: %s", h, b.String())
}

// warmUp pings until the first reply, so that ARP/ND and learning have
// happened before a test counts packets (a fresh kernel vxlan or TAP may
// lose the first request while the neighbour resolves).
func (h *host) warmUp(t testing.TB, dst netip.Addr) {
	t.Helper()
	nstest.WaitFor(t, 10*time.Second, fmt.Sprintf("%v reaching %s", h, dst), func() error {
		res := h.Ping(t, dst, nstest.PingOptions{Count: 1, Wait: 500 * time.Millisecond})
		if res.Received == 0 {
			return fmt.Errorf("no reply")
		}
		return nil
	})
}
