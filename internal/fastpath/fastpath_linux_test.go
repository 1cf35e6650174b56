package fastpath

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/internal/sys"
)

func TestDestEncode(t *testing.T) {
	d := Dest{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Port: 4789, VNI: 0xabcdef, TTL: 64, TOS: 0x2b, DF: true,
		Ifindex: 7, MaxLen: 1478, PortMin: 32768, PortMax: 60999,
	}
	v, err := d.encode()
	if err != nil {
		t.Fatal(err)
	}
	ip := header.IPv4(v[:20])
	if v[0] != 0x45 || v[1] != 0x28 || v[6] != 0x40 || v[8] != 64 || v[9] != 17 {
		t.Errorf("IPv4 template % x", v[:20])
	}
	if ip.SourceAddress() != d.Src || ip.DestinationAddress() != d.Dst {
		t.Errorf("addresses %v → %v", ip.SourceAddress(), ip.DestinationAddress())
	}
	if got := header.VXLAN(v[28:36]); got.VNI() != d.VNI || v[28] != 0x08 {
		t.Errorf("VXLAN header % x", v[28:36])
	}
	if v[22] != 0x12 || v[23] != 0xb5 {
		t.Errorf("port % x", v[22:24])
	}
	for _, bad := range []Dest{
		{Src: netip.MustParseAddr("fd00::1"), Dst: d.Dst},
		{Src: d.Src, Dst: d.Dst, PortMin: 2, PortMax: 1},
	} {
		if _, err := bad.encode(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// kernelPeer is a TAP device vt0 (02:00:00:00:00:01, 192.0.2.1/24) in
// namespace a, and a kernel vxlan vx0 (VNI 42, 192.0.2.2/24) in namespace
// b, joined by a veth ul0 (10.0.0.1/24, 10.0.0.2/24), neighbours set up
// both ways. vxlanExtra goes to the peer's `ip link add`.
type kernelPeer struct {
	a, b       *nstest.NS
	ulA, ulB   netip.Prefix
	inA, inB   netip.Prefix
	macA, macB header.MAC
	tap        *os.File // non-blocking
}

func newKernelPeer(t *testing.T, csumOff bool, vxlanExtra ...string) *kernelPeer {
	nstest.SkipUnlessRoot(t)
	p := &kernelPeer{
		a: nstest.NewNS(t, "fpa"), b: nstest.NewNS(t, "fpb"),
		ulA: netip.MustParsePrefix("10.0.0.1/24"), ulB: netip.MustParsePrefix("10.0.0.2/24"),
		inA: netip.MustParsePrefix("192.0.2.1/24"), inB: netip.MustParsePrefix("192.0.2.2/24"),
		macA: header.MAC{2, 0, 0, 0, 0, 1},
	}
	a, b := p.a, p.b
	nstest.AddVeth(t, a, b, nstest.Veth{NameA: "ul0", NameB: "ul0", AddrsA: []netip.Prefix{p.ulA}, AddrsB: []netip.Prefix{p.ulB}})
	if csumOff {
		b.TxChecksumOff(t, "ul0")
	}
	b.AddVXLAN(t, nstest.VXLAN{VNI: 42, Local: p.ulB.Addr(), Remote: p.ulA.Addr(), Dev: "ul0", Addrs: []netip.Prefix{p.inB}, Extra: vxlanExtra})
	macB := strings.Fields(b.IP(t, "-br", "link", "show", "vx0"))[2]
	mac, err := net.ParseMAC(macB)
	if err != nil {
		t.Fatal(err)
	}
	p.macB = header.MAC(mac)

	if err := a.Do(func() error {
		files, _, err := sys.OpenTAPQueues("vt0", 1, 12, sys.TUN_F_CSUM|sys.TUN_F_TSO4|sys.TUN_F_TSO6)
		if err != nil {
			return err
		}
		// A non-blocking copy, so that reads can time out.
		fd, err := syscall.Dup(int(files[0].Fd()))
		files[0].Close()
		if err != nil {
			return err
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return err
		}
		p.tap = os.NewFile(uintptr(fd), "vt0")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.tap.Close() })
	a.IP(t, "link", "set", "vt0", "address", p.macA.String(), "mtu", "1450")
	a.AddAddr(t, "vt0", p.inA)
	a.LinkUp(t, "vt0")
	a.IP(t, "neigh", "replace", p.inB.Addr().String(), "lladdr", macB, "dev", "vt0", "nud", "permanent")
	b.IP(t, "neigh", "replace", p.inA.Addr().String(), "lladdr", p.macA.String(), "dev", "vx0", "nud", "permanent")
	return p
}

// attachTX attaches the transmit program to vt0 with the kernel peer's
// MAC address in its table.
func (p *kernelPeer) attachTX(t *testing.T) *TX {
	var tx *TX
	if err := p.a.Do(func() (err error) {
		tx, err = AttachTX(p.a.Ifindex(t, "vt0"), 16)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	if err := tx.Set(p.macB, Dest{
		Src: p.ulA.Addr(), Dst: p.ulB.Addr(), Port: 4789, VNI: 42, TTL: 64,
		Ifindex: p.a.Ifindex(t, "ul0"), MaxLen: 1500 - HeaderLen + header.EthernetSize,
		PortMin: 32768, PortMax: 60999,
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// udpPair returns a UDP socket on 192.0.2.2:9000 in b and one connected to
// it from a.
func (p *kernelPeer) udpPair(t *testing.T) (rc net.PacketConn, sc net.Conn) {
	var err error
	if rc, err = p.b.ListenPacket("udp4", p.inB.Addr().String()+":9000"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	if err := p.a.Do(func() (err error) {
		sc, err = net.Dial("udp4", p.inB.Addr().String()+":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return rc, sc
}

// TestTransmitToKernelVXLAN: frames to a MAC address in the table leave a
// TAP device encapsulated by the program, and the kernel's vxlan takes
// them as its own: UDP datagrams and a verified TCP transfer (GSO
// super-frames, cut by the underlay or carried whole over the veth) reach
// the peer. The peer's answers come back through a small userspace
// decapsulation loop. Frames to other MAC addresses go on to the TAP.
func TestTransmitToKernelVXLAN(t *testing.T) {
	// The peer's inner checksums must be complete: the return path below
	// writes frames to the TAP as they arrive.
	p := newKernelPeer(t, true)
	a, b, tap := p.a, p.b, p.tap
	ulA, inB := p.ulA, p.inB
	tx := p.attachTX(t)
	mac := p.macB
	if macs, err := tx.MACs(); err != nil || len(macs) != 1 || macs[0] != mac {
		t.Fatalf("MACs() = %v, %v", macs, err)
	}

	// The return path: VXLAN datagrams to ul0 are decapsulated onto the TAP.
	var pc net.PacketConn
	if err := a.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", ulA.Addr().String()+":4789")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 70000)
		for {
			// The VXLAN header lands in buf[4:12] and the frame at
			// buf[12:]; it goes to the TAP after a zero virtio_net_hdr.
			n, _, err := pc.ReadFrom(buf[4:])
			if err != nil {
				return
			}
			if n < header.VXLANSize+header.EthernetSize {
				continue
			}
			out := buf[:12+n-header.VXLANSize]
			clear(out[:12])
			tap.Write(out)
		}
	}()

	// UDP datagrams.
	rc, sc := p.udpPair(t)
	for _, size := range []int{1, 100, 1400} {
		msg := []byte(strings.Repeat("x", size))
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2000)
		n, _, err := rc.ReadFrom(buf)
		if err != nil || n != size {
			t.Fatalf("%d-byte datagram: got %d bytes, %v", size, n, err)
		}
	}
	st, err := tx.Stats()
	if err != nil || st.Packets < 3 {
		t.Fatalf("Stats() = %+v, %v: want at least the 3 datagrams", st, err)
	}
	// The destination is marked used once, as vxlan_find_mac_tx refreshes
	// the entry's "used" time, until Used clears the mark.
	if used, err := tx.Used(); err != nil || len(used) != 1 || used[0] != p.macB {
		t.Errorf("Used() = %v, %v; want [%v]", used, err, p.macB)
	}
	if used, err := tx.Used(); err != nil || len(used) != 0 {
		t.Errorf("second Used() = %v, %v; want none", used, err)
	}
	// The kernel peer learned the TAP's MAC address behind 10.0.0.1.
	if out := b.Bridge(t, "fdb", "show", "dev", "vx0"); !strings.Contains(out, "02:00:00:00:00:01 dst 10.0.0.1") {
		t.Errorf("peer's FDB has no entry for the sender:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := nstest.TransferTCP(ctx, a, b, netip.AddrPortFrom(inB.Addr(), 0), 20<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("sent %d bytes, received %d", res.SentBytes, res.ReceivedBytes)
	}
	st2, _ := tx.Stats()
	t.Logf("20 MB in %v; the program sent %d frames, %d bytes", res.Elapsed, st2.Packets-st.Packets, st2.Bytes-st.Bytes)
	if st2.Bytes-st.Bytes < 20<<20 {
		t.Errorf("the program sent %d bytes of the 20 MB transfer", st2.Bytes-st.Bytes)
	}

	// A frame to a MAC address not in the table goes on to the TAP, and
	// Delete takes the address's mark with it.
	if err := tx.Delete(mac); err != nil {
		t.Fatal(err)
	}
	if used, err := tx.Used(); err != nil || len(used) != 0 {
		t.Errorf("Used() after Delete = %v, %v; want none", used, err)
	}
	if err := tx.Delete(mac); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := sc.Write([]byte("to the TAP")); err != nil {
		t.Fatal(err)
	}
	tap.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 70000)
	for {
		n, err := tap.Read(buf)
		if err != nil {
			t.Fatalf("nothing read from the TAP: %v", err)
		}
		if strings.Contains(string(buf[:n]), "to the TAP") {
			break
		}
	}
}

// TestReceiveFromKernelVXLAN: with both programs on, a TAP device and a
// kernel vxlan talk without any userspace path. The receive program
// decapsulates what the kernel peer sends (datagrams, and GSO super-packets
// the veth carries whole) into the TAP's receive path, but only from a
// source MAC address in its table behind the packet's outer source
// address; everything else, and a UDP GRO train holding two VXLAN packets,
// goes on to the UDP socket. Seen reports the sources used, once.
func TestReceiveFromKernelVXLAN(t *testing.T) {
	// The peer's checksums stay partial over the veth, which the program
	// cannot tell from unverified ones: without outer UDP checksums its
	// packets qualify. (A NIC verifies them: CHECKSUM_UNNECESSARY.)
	p := newKernelPeer(t, false, "noudpcsum")
	a, b := p.a, p.b
	p.attachTX(t)

	// What the program passes on lands here, and is counted.
	var passed atomic.Int64
	lc, err := a.ListenPacket("udp4", p.ulA.Addr().String()+":4789")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	go func() {
		buf := make([]byte, 70000)
		for {
			if _, _, err := lc.ReadFrom(buf); err != nil {
				return
			}
			passed.Add(1)
		}
	}()

	var rx *RX
	if err := a.Do(func() (err error) {
		if rx, err = LoadRX(RXConfig{Local: p.ulA.Addr(), Port: 4789, VNI: 42, Overlay: a.Ifindex(t, "vt0")}, 16); err != nil {
			return err
		}
		return rx.Attach(a.Ifindex(t, "ul0"))
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	if got := rx.Attached(); len(got) != 1 || got[0] != a.Ifindex(t, "ul0") {
		t.Errorf("Attached() = %v", got)
	}

	rc, err := a.ListenPacket("udp4", p.inA.Addr().String()+":9000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	sc, err := b.Dial(context.Background(), "udp4", p.inA.Addr().String()+":9000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	buf := make([]byte, 2000)
	// send sends a datagram from b and reports whether it reached a's
	// socket through the program; if not, it waits for it at the UDP
	// socket.
	send := func(msg string) bool {
		t.Helper()
		before, pass0 := stats(t, rx), passed.Load()
		if _, err := sc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		rc.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := rc.ReadFrom(buf)
		if err == nil {
			if string(buf[:n]) != msg {
				t.Fatalf("received %q, sent %q", buf[:n], msg)
			}
			if got := stats(t, rx).Packets - before.Packets; got != 1 {
				t.Errorf("%q delivered, the program counted %d frames", msg, got)
			}
			return true
		}
		for deadline := time.Now().Add(5 * time.Second); passed.Load() == pass0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q neither delivered nor passed to the socket", msg)
			}
		}
		return false
	}

	if send("unknown source") {
		t.Fatal("a frame from a MAC address not in the table was delivered")
	}
	if err := rx.Set(p.macB, p.ulB.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 100, 1400} {
		if !send(strings.Repeat("x", size)) {
			t.Fatalf("%d-byte datagram from a known source not delivered", size)
		}
	}
	if seen, err := rx.Seen(); err != nil || len(seen) != 1 || seen[0] != p.macB {
		t.Errorf("Seen() = %v, %v; want [%v]", seen, err, p.macB)
	}
	if seen, err := rx.Seen(); err != nil || len(seen) != 0 {
		t.Errorf("second Seen() = %v, %v; want none", seen, err)
	}

	// TCP both ways: data one way, ACKs the other, through both programs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, dir := range []struct {
		name     string
		from, to *nstest.NS
		dst      netip.Addr
	}{{"b→a", b, a, p.inA.Addr()}, {"a→b", a, b, p.inB.Addr()}} {
		before, pass0 := stats(t, rx), passed.Load()
		res, err := nstest.TransferTCP(ctx, dir.from, dir.to, netip.AddrPortFrom(dir.dst, 0), 20<<20, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Fatalf("%s: sent %d bytes, received %d", dir.name, res.SentBytes, res.ReceivedBytes)
		}
		after := stats(t, rx)
		t.Logf("%s: 20 MB in %v; the program delivered %d frames, %d bytes; %d packets passed to the socket",
			dir.name, res.Elapsed, after.Packets-before.Packets, after.Bytes-before.Bytes, passed.Load()-pass0)
		if dir.from == b && after.Bytes-before.Bytes < 20<<20 {
			t.Errorf("%s: the program delivered %d bytes of the 20 MB", dir.name, after.Bytes-before.Bytes)
		}
	}

	// A source behind another remote is vtepd's to learn.
	if err := rx.Set(p.macB, netip.MustParseAddr("10.0.0.99")); err != nil {
		t.Fatal(err)
	}
	if send("moved source") {
		t.Error("a frame from a MAC address behind another remote was delivered")
	}
	if err := rx.Set(p.macB, p.ulB.Addr()); err != nil {
		t.Fatal(err)
	}

	// A UDP GSO send of two VXLAN packets crosses the veth as one
	// SKB_GSO_UDP_L4 packet; the program must leave it whole. The train's
	// frames come from a MAC address of their own, so that the peer's own
	// traffic (IPv6 router solicitations, late ACKs) cannot be mistaken
	// for them: the program took the train if it marked that address seen.
	trainMAC := header.MAC{0x02, 0, 0, 0, 0x7a, 0x11}
	if err := rx.Set(trainMAC, p.ulB.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Seen(); err != nil {
		t.Fatal(err)
	}
	pass0 := passed.Load()
	gc, err := b.ListenPacket("udp4", p.ulB.Addr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	const seg = 200
	train := make([]byte, 2*seg)
	for i := range 2 {
		d := train[i*seg : (i+1)*seg]
		copy(d, []byte{0x08, 0, 0, 0, 0, 0, 42, 0})
		copy(d[8:], p.macA[:])
		copy(d[14:], trainMAC[:])
		d[20], d[21] = 0x08, 0x00
		d[22] = 0x45 // a bogus IPv4 packet: it must not get that far
	}
	raw, err := gc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_UDP, 103 /* UDP_SEGMENT */, seg)
	})
	if serr != nil {
		t.Fatal(serr)
	}
	if _, err := gc.WriteTo(train, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ulA.Addr(), 4789))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); passed.Load() < pass0+2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the train's 2 packets reached the socket", passed.Load()-pass0)
		}
	}
	if seen, err := rx.Seen(); err != nil || slices.Contains(seen, trainMAC) {
		t.Errorf("the program took part of a UDP GRO train: Seen() = %v, %v", seen, err)
	}
}

func stats(t *testing.T, rx *RX) Stats {
	t.Helper()
	s, err := rx.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
