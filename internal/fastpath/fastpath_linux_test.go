package fastpath

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
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

// TestTransmitToKernelVXLAN: frames to a MAC address in the table leave a
// TAP device encapsulated by the program, and the kernel's vxlan takes
// them as its own: UDP datagrams and a verified TCP transfer (GSO
// super-frames, cut by the underlay or carried whole over the veth) reach
// the peer. The peer's answers come back through a small userspace
// decapsulation loop. Frames to other MAC addresses go on to the TAP.
func TestTransmitToKernelVXLAN(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	a, b := nstest.NewNS(t, "fpa"), nstest.NewNS(t, "fpb")
	ulA, ulB := netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.2/24")
	nstest.AddVeth(t, a, b, nstest.Veth{NameA: "ul0", NameB: "ul0", AddrsA: []netip.Prefix{ulA}, AddrsB: []netip.Prefix{ulB}})
	// The peer's inner checksums must be complete: the return path below
	// writes frames to the TAP as they arrive.
	b.TxChecksumOff(t, "ul0")
	inA, inB := netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24")
	b.AddVXLAN(t, nstest.VXLAN{VNI: 42, Local: ulB.Addr(), Remote: ulA.Addr(), Dev: "ul0", Addrs: []netip.Prefix{inB}})
	macB := strings.Fields(b.IP(t, "-br", "link", "show", "vx0"))[2]

	var tap *os.File
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
		tap = os.NewFile(uintptr(fd), "vt0")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	a.IP(t, "link", "set", "vt0", "address", "02:00:00:00:00:01", "mtu", "1450")
	a.AddAddr(t, "vt0", inA)
	a.LinkUp(t, "vt0")
	a.IP(t, "neigh", "replace", inB.Addr().String(), "lladdr", macB, "dev", "vt0", "nud", "permanent")
	b.IP(t, "neigh", "replace", inA.Addr().String(), "lladdr", "02:00:00:00:00:01", "dev", "vx0", "nud", "permanent")

	var tx *TX
	if err := a.Do(func() (err error) {
		tx, err = AttachTX(a.Ifindex(t, "vt0"), 16)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	mac, _ := net.ParseMAC(macB)
	if err := tx.Set(header.MAC(mac), Dest{
		Src: ulA.Addr(), Dst: ulB.Addr(), Port: 4789, VNI: 42, TTL: 64,
		Ifindex: a.Ifindex(t, "ul0"), MaxLen: 1500 - HeaderLen + header.EthernetSize,
		PortMin: 32768, PortMax: 60999,
	}); err != nil {
		t.Fatal(err)
	}
	if macs, err := tx.MACs(); err != nil || len(macs) != 1 || macs[0] != header.MAC(mac) {
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
	var rc net.PacketConn
	if err := b.Do(func() (err error) {
		rc, err = net.ListenPacket("udp4", inB.Addr().String()+":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sc net.Conn
	if err := a.Do(func() (err error) {
		sc, err = net.Dial("udp4", inB.Addr().String()+":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
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

	// A frame to a MAC address not in the table goes on to the TAP.
	if err := tx.Delete(header.MAC(mac)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete(header.MAC(mac)); err != nil {
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
