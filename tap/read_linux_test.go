package tap

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vtepd/vtep/internal/nstest"
)

// TestLargePlainFramesLandInPlace: with offloads, readv puts the first
// bytes of a frame into the caller's buffer and the rest into the queue's
// scratch buffer, so that a 64 KiB super-frame is not first read into, then
// copied out of, the caller's buffer. A plain frame longer than that first
// part (here a jumbo UDP datagram on a 9000-byte MTU) must still arrive
// intact, and from then on land in the caller's buffer directly.
func TestLargePlainFramesLandInPlace(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tapjumbo")
	tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, MTU: 9000, Up: true})
	if tp.Offloads() == 0 {
		t.Skip("kernel granted no offloads: frames are read without a virtio_net_hdr")
	}
	c := dialThroughTAP0(t, ns)
	q := tp.Queue(0)
	timer := time.AfterFunc(20*time.Second, func() { tp.Close() })
	defer timer.Stop()
	bufs, sizes := newBufs(4, 65535)
	for round := range 3 {
		payload := bytes.Repeat([]byte{byte(round + 1)}, 8000)
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		var frame []byte
		for frame == nil {
			n, err := q.Read(bufs, sizes, Headroom)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for i := range n {
				f := bufs[i][Headroom : Headroom+sizes[i]]
				if len(f) > 34 && f[12] == 8 && f[13] == 0 && f[14+9] == 17 {
					frame = bytes.Clone(f)
				}
			}
		}
		if len(frame) != 14+20+8+8000 || !bytes.Equal(frame[42:], payload) || !validIPv4Checksums(frame) {
			t.Errorf("round %d: frame of %d bytes (checksums ok %v), want 8042 carrying the datagram", round, len(frame), validIPv4Checksums(frame))
		}
		if q.r.inplace < len(frame) {
			t.Errorf("round %d: in-place part %d bytes, want at least the %d of the largest frame seen", round, q.r.inplace, len(frame))
		}
	}
	if st := q.Stats(); st.ReadDropped != 0 {
		t.Errorf("ReadDropped = %d", st.ReadDropped)
	}
}

// TestTxQueueLen: Options.TxQueueLen sets the interface's txqueuelen, which
// is also how many frames each queue's ring holds for Read (tun_attach sizes
// the ring from it, tun_queue_resize follows changes): 2500 datagrams sent
// while nobody reads are all there to read afterwards, where the kernel's
// default ring of 1000 would drop the rest (tun_net_xmit).
func TestTxQueueLen(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "tapqlen")
	tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Offload: OffloadOff, TxQueueLen: 3000, Up: true})
	var l netlink.Link
	if err := ns.Do(func() (err error) {
		l, err = netlink.LinkByName("tap0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if q := l.Attrs().TxQLen; q != 3000 {
		t.Errorf("txqueuelen %d, want 3000", q)
	}
	c := dialThroughTAP0(t, ns)
	const n = 2500
	for i := range n {
		if _, err := c.Write([]byte{byte(i >> 8), byte(i)}); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	timer := time.AfterFunc(20*time.Second, func() { tp.Close() })
	defer timer.Stop()
	bufs, sizes := newBufs(64, 1600)
	next := 0
	for next < n {
		k, err := tp.Read(bufs, sizes, Headroom)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", next, err)
		}
		for i := range k {
			f := bufs[i][Headroom : Headroom+sizes[i]]
			if len(f) < 44 || f[12] != 8 || f[13] != 0 || f[14+9] != 17 {
				continue // not one of ours (IPv6 router solicitations and the like)
			}
			if got := int(f[42])<<8 | int(f[43]); got != next {
				t.Fatalf("datagram %d arrived where %d was expected (%d lost)", got, next, got-next)
			}
			next++
		}
	}
}

// dialThroughTAP0 gives tap0 in ns the address 10.1.0.1/24 and a permanent
// neighbour 10.1.0.2 (peerMAC), and returns a UDP socket in ns connected to
// 10.1.0.2:9, whose datagrams leave through tap0. It is closed at cleanup.
func dialThroughTAP0(t *testing.T, ns *nstest.NS) *net.UDPConn {
	t.Helper()
	ns.AddAddr(t, "tap0", netip.MustParsePrefix("10.1.0.1/24"))
	ns.IP(t, "neigh", "add", "10.1.0.2", "lladdr", peerMAC.String(), "dev", "tap0", "nud", "permanent")
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IP{10, 1, 0, 2}, Port: 9})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
