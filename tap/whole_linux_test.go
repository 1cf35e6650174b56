package tap

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/vtepd/vtep/gso/gsotest"
	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
	"golang.org/x/sys/unix"
)

// captured is one packet a packet socket saw, with the virtio_net_hdr the
// kernel described its skb with (PACKET_VNET_HDR).
type captured struct {
	hdr   header.VirtioNetHdrFields
	frame []byte
}

// capture opens a packet socket on interface name in ns that reports each
// packet's virtio_net_hdr, and returns a function that collects the TCP
// packets it sees until want of them arrived or a second passed.
func capture(t *testing.T, ns *nstest.NS, name string) func(want int) []captured {
	t.Helper()
	var fd int
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatalf("packet socket on %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func(want int) []captured {
		var got []captured
		buf := make([]byte, 70000)
		deadline := time.Now().Add(time.Second)
		for len(got) < want && time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 10+14+20 {
				continue
			}
			f := buf[10:n]
			if binary.BigEndian.Uint16(f[12:]) == header.EtherTypeIPv4 && f[14+9] != header.TCPProtocolNumber ||
				binary.BigEndian.Uint16(f[12:]) == header.EtherTypeIPv6 && f[14+6] != header.TCPProtocolNumber {
				continue // neighbour discovery, router solicitations
			}
			got = append(got, captured{hdr: header.VirtioNetHdr(buf[:10]).Fields(), frame: bytes.Clone(f)})
		}
		return got
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestWholeSuperFrameWrite: a frame written with Meta.GSOType reaches the
// kernel as one GSO packet of that type and segment size on a queue with a
// virtio_net_hdr (the skb virtio_net_hdr_to_skb builds, which is what a
// kernel vxlan device hands its bridge for a GSO packet it received
// whole), and as its segments, with complete checksums, on a plain queue.
func TestWholeSuperFrameWrite(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	const payload, mss = 20000, 1400
	for _, tc := range []struct {
		name string
		mode OffloadMode
		v6   bool
	}{
		{"vnet/ipv4", OffloadAuto, false},
		{"vnet/ipv6", OffloadAuto, true},
		{"plain/ipv4", OffloadOff, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.NewNS(t, "tapwhole")
			tp := openTAP(t, ns, Options{Name: "tap0", MAC: tapMAC, Offload: tc.mode, Up: true})
			if tc.mode == OffloadAuto && tp.Offloads() == 0 {
				t.Skip("kernel granted no offloads: no virtio_net_hdr to write")
			}
			recv := capture(t, ns, "tap0")
			f := gsotest.Frame{Dst: tapMAC, Src: peerMAC, IPv6: tc.v6, Seq: 1000, Payload: gsotest.Payload(payload, 3)}
			h := f.TSOHdr(mss)
			frame := f.PartialFrame()
			meta := Meta{ChecksumPartial: true, ChecksumStart: h.CsumStart, ChecksumOffset: h.CsumOffset, GSOType: h.GSOType, GSOSize: mss}
			buf := make([]byte, Headroom+len(frame))
			copy(buf[Headroom:], frame)
			if n, err := tp.Queue(0).WriteMeta([][]byte{buf}, []Meta{meta}, Headroom); n != 1 || err != nil {
				t.Fatalf("WriteMeta = %d, %v", n, err)
			}
			if tc.mode == OffloadAuto {
				got := recv(1)
				if len(got) != 1 {
					t.Fatalf("captured %d TCP packets, want 1", len(got))
				}
				g := got[0]
				if g.hdr.GSOType != h.GSOType || g.hdr.GSOSize != mss || g.hdr.Flags&header.VirtioNetHdrFlagNeedsCsum == 0 || !bytes.Equal(g.frame, frame) {
					t.Errorf("kernel holds gso_type %d gso_size %d flags %#x, %d bytes (same %v); want gso_type %d gso_size %d NEEDS_CSUM, the %d bytes written",
						g.hdr.GSOType, g.hdr.GSOSize, g.hdr.Flags, len(g.frame), bytes.Equal(g.frame, frame), h.GSOType, mss, len(frame))
				}
				return
			}
			want := (payload + mss - 1) / mss
			got := recv(want)
			if len(got) != want {
				t.Fatalf("captured %d segments, want %d", len(got), want)
			}
			var data []byte
			for i, g := range got {
				if g.hdr.GSOType != 0 || len(g.frame) > 14+40+mss || !validIPv4Checksums(g.frame) {
					t.Errorf("segment %d: gso_type %d, %d bytes, checksums valid %v", i, g.hdr.GSOType, len(g.frame), validIPv4Checksums(g.frame))
				}
				if seq := binary.BigEndian.Uint32(g.frame[14+20+4:]); seq != uint32(1000+len(data)) {
					t.Errorf("segment %d: seq %d, want %d", i, seq, 1000+len(data))
				}
				data = append(data, g.frame[14+40:]...)
			}
			if !bytes.Equal(data, f.Payload) {
				t.Errorf("the segments carry %d bytes that differ from the %d written", len(data), len(f.Payload))
			}
		})
	}
}
