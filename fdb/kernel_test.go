package fdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// TestKernelParityBridgeFdb drives a kernel vxlan device with `bridge fdb`
// and a Table with the equivalent requests, in the same random order, and
// requires the same outcome each time: the text iproute2 prints for an error
// (or none), and the same `bridge fdb show dev vx0` and `bridge -j fdb show
// dev vx0` output. It needs root and iproute2.
func TestKernelParityBridgeFdb(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "bridge")
	for _, tc := range []struct {
		name string
		link []string // after `ip link add vx0 type vxlan`
		cfg  Config
		dsts []netip.Addr
	}{
		{"ipv4", []string{"id", "42", "dstport", "4789", "remote", "10.0.0.3"},
			Config{VNI: 42, Port: 4789, Remote: netip.MustParseAddr("10.0.0.3")}, kDsts},
		{"ipv6", []string{"id", "42", "dstport", "4789", "remote", "2001:db8::3"},
			Config{VNI: 42, Port: 4789, IPv6: true, Remote: netip.MustParseAddr("2001:db8::3")}, kDsts6},
		{"external", []string{"dstport", "4790", "external"},
			Config{VNI: 0, Port: 4790, External: true}, kDsts},
	} {
		t.Run(tc.name, func(t *testing.T) { kernelParity(t, tc.link, tc.cfg, tc.dsts) })
	}
}

func kernelParity(t *testing.T, link []string, cfg Config, dsts []netip.Addr) {
	ns := nstest.NewNS(t, "fdb")
	ns.IP(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.IP(t, append([]string{"link", "add", "vx0", "type", "vxlan"}, link...)...)
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if err := json.Unmarshal([]byte(ns.IP(t, "-j", "link", "show", "v0")), &links); err != nil || len(links) != 1 {
		t.Fatalf("ifindex of v0: %v %v", links, err)
	}
	v0 := links[0].Ifindex

	cfg.IfindexExists = func(i int) bool { return i == v0 || i == v0+1 }
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &Format{IfName: func(i int) string {
		if i == v0 {
			return "v0"
		}
		return "if" + strconv.Itoa(i)
	}}

	bridge := func(args ...string) (string, string) { return runBridge(ns, args...) }
	ourShow := func(json bool) string { return showTable(tb, f, json) }

	rng := rand.New(rand.NewPCG(kernelSeed, 2))
	outcomes := map[string]int{}
	maxLen := 0
	gen := kernelOpGen{rng: rng, v0: v0, dsts: dsts, external: cfg.External}
	const steps = 400
	for i := range steps {
		op := gen.next()
		_, kerr := bridge(op.args...)
		var ours error
		switch op.args[1] {
		case "del":
			ours = tb.Delete(op.req)
		case "flush":
			_, ours = tb.Flush(op.flush)
		default:
			ours = tb.Update(op.op, op.req)
		}
		oursText := ""
		if ours != nil {
			oursText = ours.Error()
		}
		if kerr != oursText {
			t.Fatalf("step %d: bridge %s:\n kernel: %q\n ours:   %q", i, strings.Join(op.args, " "), kerr, oursText)
		}
		outcomes[op.args[1]+": "+oursText]++
		maxLen = max(maxLen, tb.Len())
		kshow, _ := bridge("fdb", "show", "dev", "vx0")
		if oshow := ourShow(false); kshow != oshow {
			t.Fatalf("step %d: after bridge %s:\n--- kernel\n%s--- ours\n%s", i, strings.Join(op.args, " "), kshow, oshow)
		}
		if i%10 == 0 {
			kj, _ := bridge("-j", "fdb", "show", "dev", "vx0")
			if oj := ourShow(true); strings.TrimSpace(kj) != oj {
				t.Fatalf("step %d: JSON:\n kernel %s\n ours   %s", i, kj, oj)
			}
		}
	}
	t.Logf("%d steps, at most %d entries; outcomes %v", steps, maxLen, outcomes)
}

const kernelSeed = 1

type kernelOp struct {
	args  []string
	op    Op
	req   Request
	flush FlushFilter
}

type kernelOpGen struct {
	rng      *rand.Rand
	v0       int
	dsts     []netip.Addr
	external bool
}

var (
	kMACs = []header.MAC{
		header.MustParseMAC("02:00:00:00:00:0a"),
		header.MustParseMAC("02:00:00:00:00:0b"),
		header.MustParseMAC("02:00:00:00:00:0c"),
		header.MustParseMAC("01:00:5e:00:00:01"),
		header.ZeroMAC,
		header.BroadcastMAC,
	}
	kDsts = []netip.Addr{
		netip.MustParseAddr("10.0.0.1"),
		netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("10.0.0.3"),
		netip.IPv4Unspecified(),
	}
	kDsts6 = []netip.Addr{
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("2001:db8::2"),
		netip.MustParseAddr("2001:db8::3"),
		netip.IPv6Unspecified(),
	}
)

func (g *kernelOpGen) chance(p float64) bool { return g.rng.Float64() < p }

// next returns a random `bridge fdb` command and the request iproute2
// 6.1's bridge/fdb.c (fdb_modify, fdb_flush) builds from it.
func (g *kernelOpGen) next() kernelOp {
	var o kernelOp
	mac := kMACs[g.rng.IntN(len(kMACs))]
	switch n := g.rng.IntN(20); {
	case n < 5:
		o.args, o.op = []string{"fdb", "add"}, OpCreate|OpExcl
	case n < 10:
		o.args, o.op = []string{"fdb", "append"}, OpCreate|OpAppend
	case n < 14:
		o.args, o.op = []string{"fdb", "replace"}, OpCreate|OpReplace
	case n < 19:
		o.args = []string{"fdb", "del"}
	default:
		return g.flush()
	}
	o.args = append(o.args, mac.String(), "dev", "vx0")
	r := Request{MAC: mac, State: StateNoARP}
	if g.chance(0.85) || o.args[1] == "del" && g.chance(0.5) {
		d := g.dsts[g.rng.IntN(len(g.dsts))]
		if g.chance(0.03) {
			d = kDsts6[0] // the other family
			if d.Is6() == g.dsts[0].Is6() {
				d = kDsts[0]
			}
		}
		o.args = append(o.args, "dst", d.String())
		r.Dst = d
	}
	if g.chance(0.2) {
		p := []uint16{4789, 8472}[g.rng.IntN(2)]
		o.args = append(o.args, "port", strconv.Itoa(int(p)))
		r.Port = p
	}
	if g.chance(0.2) {
		v := []header.VNI{42, 7, 0}[g.rng.IntN(3)]
		o.args = append(o.args, "vni", v.String())
		r.VNI, r.HasVNI = v, true
	}
	if g.chance(0.1) {
		o.args = append(o.args, "via", "v0")
		r.Ifindex = g.v0
	}
	if g.external && g.chance(0.5) {
		v := []header.VNI{100, 200, 0}[g.rng.IntN(3)]
		o.args = append(o.args, "src_vni", v.String())
		r.SrcVNI, r.HasSrcVNI = v, true
	}
	switch g.rng.IntN(4) {
	case 1:
		o.args = append(o.args, "permanent")
		r.State |= StatePermanent
	case 2:
		o.args = append(o.args, "static")
		r.State |= StateReachable
	case 3:
		o.args = append(o.args, "dynamic")
		r.State = (r.State | StateReachable) &^ StateNoARP
	}
	for _, fw := range []struct {
		w string
		f Flags
		p float64
	}{{"router", FlagRouter, 0.2}, {"extern_learn", FlagExtLearned, 0.15}, {"sticky", FlagSticky, 0.1}, {"use", FlagUse, 0.1}} {
		if g.chance(fw.p) {
			o.args = append(o.args, fw.w)
			r.Flags |= fw.f
		}
	}
	r.Flags |= FlagSelf
	if r.State&(StatePermanent|StateReachable) == 0 {
		r.State |= StatePermanent
	}
	o.req = r
	return o
}

func (g *kernelOpGen) flush() kernelOp {
	o := kernelOp{args: []string{"fdb", "flush", "dev", "vx0"}}
	f := &o.flush
	words := []string{"permanent", "nopermanent", "static", "nostatic", "dynamic", "nodynamic",
		"extern_learn", "noextern_learn", "sticky", "nosticky"}
	for _, w := range words {
		if !g.chance(0.12) {
			continue
		}
		o.args = append(o.args, w)
		switch w {
		case "permanent":
			f.State |= StatePermanent
			f.StateMask |= StatePermanent
		case "nopermanent":
			f.State &^= StatePermanent
			f.StateMask |= StatePermanent
		case "static":
			f.State |= StateNoARP
			f.StateMask |= StateNoARP | StatePermanent
		case "nostatic":
			f.State &^= StateNoARP
			f.StateMask |= StateNoARP
		case "dynamic":
			f.State &^= StateNoARP
			f.StateMask |= StateNoARP | StatePermanent
		case "nodynamic":
			f.State |= StateNoARP
			f.StateMask |= StateNoARP
		case "extern_learn":
			f.Flags |= FlagExtLearned
			f.FlagsMask |= FlagExtLearned
		case "noextern_learn":
			f.Flags &^= FlagExtLearned
			f.FlagsMask |= FlagExtLearned
		case "sticky":
			f.Flags |= FlagSticky
			f.FlagsMask |= FlagSticky
		case "nosticky":
			f.Flags &^= FlagSticky
			f.FlagsMask |= FlagSticky
		}
	}
	f.Flags |= FlagSelf
	return o
}

// runBridge runs `bridge -n NS args…` and returns its stdout and trimmed
// stderr; a failure shows in stderr.
func runBridge(ns *nstest.NS, args ...string) (stdout, stderr string) {
	cmd := exec.Command("bridge", append([]string{"-n", ns.Name}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	_ = cmd.Run()
	return o.String(), strings.TrimSpace(e.String())
}

// showTable prints tb as `bridge fdb show dev DEV` (or with -j) would.
func showTable(tb *Table, f *Format, json bool) string {
	var b []byte
	if json {
		b = append(b, '[')
	}
	first := true
	for n := range tb.Neighs() {
		if json {
			if !first {
				b = append(b, ',')
			}
			b = n.AppendJSON(b, f)
		} else {
			b = n.AppendText(b, f)
			b = append(b, '\n')
		}
		first = false
	}
	if json {
		b = append(b, ']')
	}
	return string(b)
}

// TestKernelParityLearning sends VXLAN frames from two local addresses to a
// kernel vxlan device (so that vxlan_snoop runs) and feeds the same frames
// to Table.Learn, interleaved with `bridge fdb` changes, and requires the
// same dump after every step. The kernel device has maxaddress 4.
func TestKernelParityLearning(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "bridge")
	ns := nstest.NewNS(t, "fdbl")
	srcs := []netip.Addr{netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")}
	for _, a := range srcs {
		ns.IP(t, "addr", "add", a.String()+"/32", "dev", "lo")
	}
	ns.IP(t, "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
		"remote", "10.0.0.3", "maxaddress", "4")
	ns.LinkUp(t, "vx0")
	conns := make([]net.PacketConn, len(srcs))
	for i, a := range srcs {
		c, err := ns.ListenPacket("udp4", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	to := &net.UDPAddr{IP: net.IP(srcs[0].AsSlice()), Port: 4789}

	tb, err := New(Config{VNI: 42, Port: 4789, Remote: netip.MustParseAddr("10.0.0.3"), MaxAddress: 4})
	if err != nil {
		t.Fatal(err)
	}
	macs := []header.MAC{
		header.MustParseMAC("02:00:00:00:01:01"),
		header.MustParseMAC("02:00:00:00:01:02"),
		header.MustParseMAC("02:00:00:00:01:03"),
		header.MustParseMAC("02:00:00:00:01:04"),
		header.MustParseMAC("02:00:00:00:01:05"),
		header.MustParseMAC("01:00:5e:00:00:07"), // invalid source
	}
	frame := func(src header.MAC) []byte {
		b := []byte{0x08, 0, 0, 0, 0, 0, 42, 0}  // I flag, VNI 42
		b = append(b, 0x02, 0, 0, 0, 0xff, 0xff) // inner destination
		b = append(b, src[:]...)
		return append(b, 0x88, 0xb5, 'v', 't', 'e', 'p') // local experimental EtherType
	}
	rng := rand.New(rand.NewPCG(3, 4))
	results := map[LearnResult]int{}
	for i := range 300 {
		mac := macs[rng.IntN(len(macs))]
		si := rng.IntN(len(srcs))
		var what string
		switch n := rng.IntN(10); {
		case n < 7:
			what = "frame from " + mac.String() + " via " + srcs[si].String()
			if _, err := conns[si].WriteTo(frame(mac), to); err != nil {
				t.Fatal(err)
			}
			results[tb.Learn(mac, 42, srcs[si], 0)]++
		case n < 8:
			word := []string{"static", "dynamic", "permanent"}[rng.IntN(3)]
			args := []string{"fdb", "replace", mac.String(), "dev", "vx0", "dst", srcs[si].String(), word}
			what = strings.Join(args, " ")
			_, kerr := runBridge(ns, args...)
			r := Request{MAC: mac, Dst: srcs[si], Flags: FlagSelf, State: StateNoARP}
			switch word {
			case "static":
				r.State |= StateReachable
			case "dynamic":
				r.State = StateReachable
			case "permanent":
				r.State |= StatePermanent
			}
			ours := ""
			if err := tb.Replace(r); err != nil {
				ours = err.Error()
			}
			if kerr != ours {
				t.Fatalf("step %d: %s: kernel %q, ours %q", i, what, kerr, ours)
			}
		default:
			args := []string{"fdb", "del", mac.String(), "dev", "vx0"}
			what = strings.Join(args, " ")
			runBridge(ns, args...)
			tb.Delete(Request{MAC: mac})
		}
		want := showTable(tb, nil, false)
		nstest.WaitFor(t, 2*time.Second, "step "+strconv.Itoa(i)+" ("+what+")", func() error {
			if got, _ := runBridge(ns, "fdb", "show", "dev", "vx0"); got != want {
				return fmt.Errorf("kernel dump\n%s\nours\n%s", got, want)
			}
			return nil
		})
	}
	t.Logf("learn results: %v", results)
}
