package tap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vtepd/vtep/gso"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/internal/sys"
)

// openTAP creates a TAP inside ns and removes it when the test ends.
func openTAP(t testing.TB, ns *nstest.NS, opts Options) *Linux {
	t.Helper()
	var tp *Linux
	if err := ns.Do(func() error {
		var err error
		tp, err = Open(opts)
		return err
	}); err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// newBufs returns n buffers with Headroom and room for a frame of size mtu+
// an Ethernet header.
func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, Headroom+size)
	}
	return bufs, make([]int, n)
}

// readFrames starts a goroutine reading dev into a channel of copies. It
// ends when Read fails (after Close).
func readFrames(dev Device) <-chan []byte {
	ch := make(chan []byte, 1024)
	go func() {
		defer close(ch)
		bufs, sizes := newBufs(dev.BatchSize(), 2048)
		for {
			n, err := dev.Read(bufs, sizes, Headroom)
			if err != nil {
				return
			}
			for i := range n {
				ch <- bytes.Clone(bufs[i][Headroom : Headroom+sizes[i]])
			}
		}
	}()
	return ch
}

// waitFrame returns the first frame from ch that match accepts.
func waitFrame(t *testing.T, ch <-chan []byte, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				t.Fatalf("reader stopped while waiting for %s", what)
			}
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if match(p) {
				return p
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFrame writes one frame with headroom.
func writeFrame(t *testing.T, dev Device, frame []byte) {
	t.Helper()
	buf := make([]byte, Headroom+len(frame))
	copy(buf[Headroom:], frame)
	if n, err := dev.Write([][]byte{buf}, Headroom); err != nil || n != 1 {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

var (
	peerMAC = header.MustParseMAC("02:00:00:00:00:02")
	tapMAC  = header.MustParseMAC("02:00:00:00:00:01")
)

func TestOpenSetsNameMACMTUAndIndex(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tap")
	tp := openTAP(t, ns, Options{Name: "vx0", MAC: tapMAC, MTU: 1450, Up: true})
	if tp.Name() != "vx0" {
		t.Errorf("Name() = %q, want vx0", tp.Name())
	}
	var l netlink.Link
	ns.Do(func() error {
		var err error
		l, err = netlink.LinkByName("vx0")
		return err
	})
	if l == nil {
		t.Fatal("vx0 not found in the namespace")
	}
	a := l.Attrs()
	if a.Index != tp.Index() {
		t.Errorf("Index() = %d, kernel says %d", tp.Index(), a.Index)
	}
	if a.MTU != 1450 {
		t.Errorf("mtu = %d, want 1450", a.MTU)
	}
	if a.HardwareAddr.String() != tapMAC.String() {
		t.Errorf("address = %s, want %s", a.HardwareAddr, tapMAC)
	}
	if a.Flags&net.FlagUp == 0 {
		t.Errorf("interface is not up")
	}
	if tt, ok := l.(*netlink.Tuntap); !ok || tt.Mode != netlink.TUNTAP_MODE_TAP {
		t.Errorf("link is %T %+v, want a TAP", l, l)
	}
	t.Logf("offloads granted: %v", tp.Offloads())
}

// TestARPAndPing answers nothing itself: it plays a neighbour on the TAP
// and checks that the kernel answers ARP and ICMP echo through Read/Write,
// with offloads and with plain frames.
func TestARPAndPing(t *testing.T) {
	for _, mode := range []OffloadMode{OffloadAuto, OffloadOff} {
		t.Run(fmt.Sprintf("offload=%v", mode == OffloadAuto), func(t *testing.T) {
			nstest.SkipUnlessRoot(t)
			ns := nstest.NewNS(t, "tap")
			tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Offload: mode, Up: true})
			if mode == OffloadOff && tp.Offloads() != 0 {
				t.Fatalf("OffloadOff: Offloads() = %v, want none", tp.Offloads())
			}
			ns.AddAddr(t, "tap0", netip.MustParsePrefix("10.1.0.1/24"))
			frames := readFrames(tp)
			myIP, tapIP := net.IP{10, 1, 0, 2}, net.IP{10, 1, 0, 1}

			writeFrame(t, tp, serialize(t,
				&layers.Ethernet{SrcMAC: peerMAC[:], DstMAC: header.BroadcastMAC[:], EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: layers.ARPRequest, SourceHwAddress: peerMAC[:], SourceProtAddress: myIP,
					DstHwAddress: make([]byte, 6), DstProtAddress: tapIP}))
			p := waitFrame(t, frames, "ARP reply", func(p gopacket.Packet) bool {
				a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
				return ok && a.Operation == layers.ARPReply
			})
			arp := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !bytes.Equal(arp.SourceHwAddress, tapMAC[:]) || !bytes.Equal(arp.SourceProtAddress, tapIP) {
				t.Errorf("ARP reply from %v/%v, want %v/%v", net.HardwareAddr(arp.SourceHwAddress), net.IP(arp.SourceProtAddress), tapMAC, tapIP)
			}

			payload := bytes.Repeat([]byte("vtep"), 100)
			writeFrame(t, tp, serialize(t,
				&layers.Ethernet{SrcMAC: peerMAC[:], DstMAC: tapMAC[:], EthernetType: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: myIP, DstIP: tapIP},
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1},
				gopacket.Payload(payload)))
			p = waitFrame(t, frames, "ICMP echo reply", func(p gopacket.Packet) bool {
				ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				return ok && ic.TypeCode.Type() == layers.ICMPv4TypeEchoReply
			})
			ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if ic.Id != 7 || ic.Seq != 1 || !bytes.Equal(ic.Payload, payload) {
				t.Errorf("echo reply id %d seq %d payload %d bytes, want 7/1/%d", ic.Id, ic.Seq, len(ic.Payload), len(payload))
			}
			if !validIPv4Checksums(p.Data()) {
				t.Errorf("echo reply has bad checksums")
			}
		})
	}
}

// validIPv4Checksums checks the IPv4 header checksum and the TCP/UDP/ICMP
// checksum of an Ethernet/IPv4 frame.
func validIPv4Checksums(frame []byte) bool {
	ip := frame[14:]
	ihl := int(ip[0]&0xf) * 4
	if sum16(ip[:ihl], 0) != 0xffff {
		return false
	}
	tot := int(ip[2])<<8 | int(ip[3])
	l4 := ip[ihl:tot]
	switch ip[9] {
	case 1:
		return sum16(l4, 0) == 0xffff
	case 6, 17:
		ps := pseudo4(ip[12:16], ip[16:20], ip[9], len(l4))
		if ip[9] == 17 && l4[6] == 0 && l4[7] == 0 {
			return true
		}
		return sum16(l4, ps) == 0xffff
	}
	return true
}

func sum16(b []byte, init uint32) uint16 {
	s := init
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func pseudo4(src, dst []byte, proto byte, n int) uint32 {
	return uint32(sum16(src, 0)) + uint32(sum16(dst, 0)) + uint32(proto) + uint32(n)
}

// TestOffloadFallback: when the kernel refuses the offloads, OffloadAuto
// recreates the TAP without IFF_VNET_HDR and works with plain frames.
func TestOffloadFallback(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tapfb")
	refuseOffloadsForTest = true
	tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Up: true})
	refuseOffloadsForTest = false
	if tp.Offloads() != 0 {
		t.Fatalf("Offloads() = %v after refusal, want none", tp.Offloads())
	}
	var flags uint16
	tp.Queue(0).rc.Control(func(fd uintptr) { flags, _ = sys.TAPFlags(fd) })
	if flags&sys.IFF_VNET_HDR != 0 {
		t.Errorf("flags %#x still have IFF_VNET_HDR", flags)
	}
	ns.AddAddr(t, "tap0", netip.MustParsePrefix("10.1.0.1/24"))
	x := newARPExchange(t, tp)
	done := make(chan struct{})
	go func() { x.run(); close(done) }()
	select {
	case <-done:
		if x.err != nil {
			t.Fatal(x.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ARP reply")
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for _, inThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("in-thread=%v", inThread), func(t *testing.T) { testCloseUnblocksRead(t, inThread) })
	}
}

func testCloseUnblocksRead(t *testing.T, inThread bool) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tap")
	tp := openTAP(t, ns, Options{Name: "tap0", WaitInThread: inThread})
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(4, 2048)
		_, err := tp.Read(bufs, sizes, Headroom)
		errc <- err
	}()
	if err := tp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
	if _, err := tp.Write([][]byte{make([]byte, Headroom+60)}, Headroom); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	if out, err := ns.Exec(t.Context(), "ip", "link", "show", "tap0"); err == nil {
		t.Errorf("tap0 still exists after Close:\n%s", out)
	}
}

func TestMultiQueue(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tap")
	tp := openTAP(t, ns, Options{Name: "mq0", MAC: tapMAC, Queues: 4, Up: true})
	if tp.NumQueues() != 4 {
		t.Fatalf("NumQueues() = %d, want 4", tp.NumQueues())
	}
	for i := range 4 {
		q := tp.Queue(i)
		var flags uint16
		var ferr error
		q.rc.Control(func(fd uintptr) { flags, ferr = sys.TAPFlags(fd) })
		if ferr != nil {
			t.Fatal(ferr)
		}
		if flags&sys.IFF_MULTI_QUEUE == 0 || flags&sys.IFF_TAP == 0 {
			t.Errorf("queue %d flags %#x: want IFF_TAP|IFF_MULTI_QUEUE", i, flags)
		}
		if (flags&sys.IFF_VNET_HDR != 0) != (tp.Offloads() != 0) {
			t.Errorf("queue %d flags %#x disagree with offloads %v", i, flags, tp.Offloads())
		}
	}
	// Every queue can send: ARP requests from four "hosts", one per queue;
	// the replies come back on whichever queue the kernel picks.
	ns.AddAddr(t, "mq0", netip.MustParsePrefix("10.1.0.1/24"))
	merged := make(chan []byte, 1024)
	var wg sync.WaitGroup
	for i := range 4 {
		ch := readFrames(tp.Queue(i))
		wg.Go(func() {
			for f := range ch {
				merged <- f
			}
		})
	}
	want := map[byte]bool{}
	for i := range 4 {
		mac := header.MAC{2, 0, 0, 0, 1, byte(i)}
		ip := net.IP{10, 1, 0, byte(10 + i)}
		want[byte(10+i)] = true
		writeFrame(t, tp.Queue(i), serialize(t,
			&layers.Ethernet{SrcMAC: mac[:], DstMAC: header.BroadcastMAC[:], EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: mac[:], SourceProtAddress: ip,
				DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 1, 0, 1}}))
	}
	for len(want) > 0 {
		p := waitFrame(t, merged, "ARP replies", func(p gopacket.Packet) bool {
			a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			return ok && a.Operation == layers.ARPReply
		})
		delete(want, p.Layer(layers.LayerTypeARP).(*layers.ARP).DstProtAddress[3])
	}
	tp.Close()
	wg.Wait()
}

// tapPair creates a TAP in each of two namespaces (10.2.0.1/24 + fd02::1/64
// and .2/::2) and bridges them with a Go loop that reads batches of batch
// frames from one and writes them to the other, checking every frame read
// (size within the MTU, valid IPv4/IPv6 checksums). Problems are returned
// through check, called at the end of the test.
func tapPair(t testing.TB, mode OffloadMode, batch int, useMeta ...bool) (nsA, nsB *nstest.NS, a, b *Linux, check func()) {
	t.Helper()
	return tapPairSize(t, mode, batch, 1600, len(useMeta) > 0 && useMeta[0], false, false)
}

// tapPairSize is tapPair with buffers of Headroom+size bytes. With
// noHeadroom the bridge writes frames at offset 0, so that the writer
// cannot put the virtio_net_hdr in front of them and writes it from its own
// buffer (writev).
func tapPairSize(t testing.TB, mode OffloadMode, batch, size int, useMeta, noHeadroom, inThread bool) (nsA, nsB *nstest.NS, a, b *Linux, check func()) {
	t.Helper()
	nstest.SkipUnlessRoot(t)
	nsA, nsB = nstest.NewNS(t, "tapa"), nstest.NewNS(t, "tapb")
	a = openTAP(t, nsA, Options{Name: "t0", MAC: header.MAC{2, 0, 0, 0, 0xa, 1}, MTU: 1500, Offload: mode, Up: true, WaitInThread: inThread})
	b = openTAP(t, nsB, Options{Name: "t0", MAC: header.MAC{2, 0, 0, 0, 0xb, 1}, MTU: 1500, Offload: mode, Up: true, WaitInThread: inThread})
	nsA.AddAddr(t, "t0", netip.MustParsePrefix("10.2.0.1/24"), netip.MustParsePrefix("fd02::1/64"))
	nsB.AddAddr(t, "t0", netip.MustParsePrefix("10.2.0.2/24"), netip.MustParsePrefix("fd02::2/64"))
	var bad sync.Map
	bridge := func(from, to *Linux, name string) {
		bufs, sizes := newBufs(batch, size)
		out := make([][]byte, batch)
		var metas []Meta
		if useMeta {
			// As the datapath does: ReadMeta leaves checksums partial and
			// WriteMeta hands them to the other kernel as CHECKSUM_PARTIAL.
			metas = make([]Meta, batch)
		}
		for {
			var n int
			var err error
			if metas != nil {
				n, err = from.ReadMeta(bufs, sizes, metas, Headroom)
			} else {
				n, err = from.Read(bufs, sizes, Headroom)
			}
			if err != nil {
				return
			}
			for i := range n {
				f := bufs[i][Headroom : Headroom+sizes[i]]
				if sizes[i] > 1514 {
					bad.Store(name+": oversize frame", sizes[i])
				}
				if metas != nil && metas[i].ChecksumPartial {
					f = bytes.Clone(f)
					if err := gso.CompleteChecksum(f, int(metas[i].ChecksumStart), int(metas[i].ChecksumOffset)); err != nil {
						bad.Store(name+": bad partial checksum offsets", err)
					}
				}
				if !validChecksums(f) {
					bad.Store(name+": bad checksum", fmt.Sprintf("% x", f[:min(len(f), 74)]))
				}
				out[i] = bufs[i][:Headroom+sizes[i]]
			}
			off := Headroom
			if noHeadroom {
				off = 0
				for i := range n {
					out[i] = out[i][Headroom:]
				}
			}
			if metas != nil {
				to.WriteMeta(out[:n], metas[:n], off)
			} else {
				to.Write(out[:n], off)
			}
		}
	}
	go bridge(a, b, "a->b")
	go bridge(b, a, "b->a")
	return nsA, nsB, a, b, func() {
		bad.Range(func(k, v any) bool { t.Errorf("%v: %v", k, v); return true })
	}
}

// validChecksums checks the IP and TCP/UDP/ICMP checksums of an untagged
// Ethernet frame carrying IPv4 or IPv6 (without extension headers); other
// frames pass.
func validChecksums(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	switch {
	case f[12] == 8 && f[13] == 0 && len(f) >= 34:
		return validIPv4Checksums(f)
	case f[12] == 0x86 && f[13] == 0xdd && len(f) >= 54:
		ip := f[14:]
		l4 := ip[40 : 40+(int(ip[4])<<8|int(ip[5]))]
		switch ip[6] {
		case 6, 17, 58:
			return sum16(l4, pseudo6(ip[8:24], ip[24:40], ip[6], len(l4))) == 0xffff
		}
	}
	return true
}

func pseudo6(src, dst []byte, proto byte, n int) uint32 {
	return uint32(sum16(src, 0)) + uint32(sum16(dst, 0)) + uint32(proto) + uint32(n)
}

// TestTCPThroughTAPPair moves a TCP stream across a TAP pair bridged by a
// Go loop. With offloads the sending kernel hands over TSO super-frames,
// which Read must segment into valid MTU-sized frames (tcp_gso_segment
// rules, done by package gso); a batch smaller than a super-frame's segment
// count exercises segments carried over to the next Read.
func TestTCPThroughTAPPair(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  OffloadMode
		v6    bool
		batch int
		meta  bool
		size  int // buffer size after Headroom; 0: 1600
		// noHeadroom: frames are written at offset 0 (the virtio header
		// and GRO super-frame headers go out from the writer's buffers).
		noHeadroom bool
		// inThread: the queues wait in their threads (WaitInThread).
		inThread bool
	}{
		{"offload/ipv4", OffloadAuto, false, 64, false, 0, false, false},
		{"offload/ipv6", OffloadAuto, true, 64, false, 0, false, false},
		{"offload/ipv4/batch3", OffloadAuto, false, 3, false, 0, false, false},
		{"offload/ipv4/meta", OffloadAuto, false, 64, true, 0, false, false},
		{"offload/ipv4/meta/no-headroom", OffloadAuto, false, 64, true, 0, true, false},
		{"offload/ipv6/no-headroom", OffloadAuto, true, 64, false, 0, true, false},
		{"offload/ipv6/meta/batch3", OffloadAuto, true, 3, true, 0, false, false},
		// The datapath's buffers hold a whole 64 KiB packet: a super-frame
		// then lands partly in the caller's buffer, partly in scratch.
		{"offload/ipv4/meta/64k-buffers", OffloadAuto, false, 64, true, 65535, false, false},
		{"offload/ipv6/64k-buffers/batch3", OffloadAuto, true, 3, false, 65535, false, false},
		{"plain/ipv4", OffloadOff, false, 64, false, 0, false, false},
		{"plain/ipv6", OffloadOff, true, 64, false, 0, false, false},
		{"offload/ipv4/meta/in-thread", OffloadAuto, false, 64, true, 0, false, true},
		{"plain/ipv6/in-thread", OffloadOff, true, 64, false, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bufSize := tc.size
			if bufSize == 0 {
				bufSize = 1600
			}
			nsA, nsB, a, b, check := tapPairSize(t, tc.mode, tc.batch, bufSize, tc.meta, tc.noHeadroom, tc.inThread)
			addr, network := "10.2.0.2:5001", "tcp4"
			if tc.v6 {
				addr, network = "[fd02::2]:5001", "tcp6"
			}
			var ln net.Listener
			err := nsB.Do(func() (err error) {
				ln, err = net.Listen(network, addr)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const size = 8 << 20
			data := make([]byte, size)
			rand.NewChaCha8([32]byte{1}).Read(data)
			want := sha256.Sum256(data)
			got := make(chan [32]byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				h := sha256.New()
				io.Copy(h, c)
				var s [32]byte
				copy(s[:], h.Sum(nil))
				got <- s
			}()
			var c net.Conn
			err = nsA.Do(func() (err error) {
				c, err = net.Dial(network, addr)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.Close()
			select {
			case s := <-got:
				if s != want {
					t.Fatal("received data differs")
				}
			case <-time.After(60 * time.Second):
				t.Fatal("transfer timed out")
			}
			check()
			st := a.Stats()
			t.Logf("offloads %v; sender TAP stats %+v", a.Offloads(), st)
			tso := OffloadTSO4
			if tc.v6 {
				tso = OffloadTSO6
			}
			if a.Offloads()&tso != 0 && st.ReadSuperFrames == 0 {
				t.Errorf("TSO granted but no super-frames were read")
			}
			if tc.meta && st.ReadChecksums != 0 {
				t.Errorf("ReadMeta completed %d checksums, want them left partial", st.ReadChecksums)
			}
			rst := b.Stats()
			t.Logf("receiver TAP stats %+v; GRO %+v", rst, b.Queue(0).GROStats())
			if rst.WriteErrors != 0 {
				t.Errorf("receiver TAP refused %d frames", rst.WriteErrors)
			}
			if a.Offloads()&tso != 0 && tc.batch >= 16 && rst.WriteSuperFrames == 0 {
				t.Errorf("GRO wrote no super-frames into the receiving TAP")
			}
		})
	}
}

// TestUDPSegmentationThroughTAP sends one UDP_SEGMENT burst (8 datagrams
// of 1000 bytes) into a TAP with USO granted: the kernel hands it over as a
// single GSO_UDP_L4 super-frame, which Read splits back into 8 datagrams
// with their own lengths and checksums (__udp_gso_segment).
func TestUDPSegmentationThroughTAP(t *testing.T) {
	nsA, nsB, a, _, check := tapPair(t, OffloadAuto, 64)
	if a.Offloads()&OffloadUSO4 == 0 {
		t.Skipf("kernel did not grant USO (offloads %v)", a.Offloads())
	}
	var rx *net.UDPConn
	if err := nsB.Do(func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP{10, 2, 0, 2}, Port: 6000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if err := nsA.Do(func() (err error) {
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IP{10, 2, 0, 2}, Port: 6000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	payload := make([]byte, 8000)
	for i := range payload {
		payload[i] = byte(i / 1000)
	}
	// One UDP_SEGMENT cmsg: level SOL_UDP (17), type 103, a uint16 size.
	oob := make([]byte, 24)
	binary.NativeEndian.PutUint64(oob[0:], 18)
	binary.NativeEndian.PutUint32(oob[8:], 17)
	binary.NativeEndian.PutUint32(oob[12:], sys.UDP_SEGMENT)
	binary.NativeEndian.PutUint16(oob[16:], 1000)
	// The first send may race neighbour resolution; ARP is answered by
	// the peer kernel through the bridge, and the UDP burst waits in the
	// neighbour queue meanwhile.
	if _, _, err := tx.WriteMsgUDP(payload, oob, nil); err != nil {
		t.Fatal(err)
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2000)
	for i := range 8 {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if n != 1000 || buf[0] != byte(i) || buf[999] != byte(i) {
			t.Errorf("datagram %d: %d bytes starting with %d, want 1000 of %d", i, n, buf[0], i)
		}
	}
	check()
	if st := a.Stats(); st.ReadSuperFrames == 0 {
		t.Errorf("no super-frame read: %+v", st)
	}
}

// TestBridgePort: the TAP is an ordinary Ethernet interface that can be
// enslaved to a Linux bridge (`ip link set tap0 master br0`).
func TestBridgePort(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tapbr")
	openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Up: true})
	ns.IP(t, "link", "add", "br0", "type", "bridge")
	ns.IP(t, "link", "set", "tap0", "master", "br0")
	if out := ns.IP(t, "-d", "link", "show", "tap0"); !bytes.Contains([]byte(out), []byte("master br0")) {
		t.Errorf("tap0 is not a port of br0:\n%s", out)
	}
}
