package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
)

// mdbEntry is one `bridge mdb add dev vx0 port vx0 grp GRP [src SRC]
// permanent [filter_mode MODE source_list LIST] dst DST`.
type mdbEntry struct {
	grp, src string
	mode     string
	list     []string
	dst      netip.Addr
}

// MDBAdd adds e to vx0's MDB: with vtep's CLI, or for the kernel with an
// RTM_NEWMDB message, as bridge(8) from iproute2 6.3 on sends it (the
// iproute2 of the test machines is older and cannot).
func (h *host) MDBAdd(t testing.TB, e mdbEntry) {
	t.Helper()
	if h.kind.isVtep() {
		args := []string{"mdb", "add", "dev", vxDev, "port", vxDev, "grp", e.grp}
		if e.src != "" {
			args = append(args, "src", e.src)
		}
		args = append(args, "permanent")
		if e.mode != "" {
			args = append(args, "filter_mode", e.mode, "source_list", strings.Join(e.list, ","))
		}
		h.vtepd.Run(t, append(args, "dst", e.dst.String())...)
		return
	}
	if err := h.ns.Do(func() error { return kernelMDBAdd(e) }); err != nil {
		t.Fatalf("%v: mdb add %+v: %v", h, e, err)
	}
}

// Netlink values of include/uapi/linux/if_bridge.h and rtnetlink.h.
const (
	rtmNewMDB          = 84
	mdbaSetEntry       = 1
	mdbaSetEntryAttrs  = 2
	mdbeAttrSource     = 1
	mdbeAttrSrcList    = 2
	mdbeAttrGroupMode  = 3
	mdbeAttrDst        = 5
	mdbeSrcListEntry   = 1
	mdbeSrcAttrAddress = 1
	mdbPermanent       = 1
)

// rawData is a fixed part of a netlink message.
type rawData []byte

func (d rawData) Len() int          { return len(d) }
func (d rawData) Serialize() []byte { return d }

func addrBytes(a netip.Addr) []byte { return a.AsSlice() }

func kernelMDBAdd(e mdbEntry) error {
	ifi, err := net.InterfaceByName(vxDev)
	if err != nil {
		return err
	}
	grp := netip.MustParseAddr(e.grp)
	req := nl.NewNetlinkRequest(rtmNewMDB, syscall.NLM_F_CREATE|syscall.NLM_F_EXCL|syscall.NLM_F_ACK)
	// struct br_port_msg { u8 family; u32 ifindex; }
	bpm := make([]byte, 8)
	bpm[0] = syscall.AF_BRIDGE
	binary.NativeEndian.PutUint32(bpm[4:], uint32(ifi.Index))
	req.AddData(rawData(bpm))
	// struct br_mdb_entry { u32 ifindex; u8 state; u8 flags; u16 vid;
	// { union { be32 ip4; in6_addr ip6; u8 mac[6]; } u; be16 proto; } addr; }
	ent := make([]byte, 28)
	binary.NativeEndian.PutUint32(ent[0:], uint32(ifi.Index))
	ent[4] = mdbPermanent
	copy(ent[8:24], addrBytes(grp))
	proto := uint16(syscall.ETH_P_IP)
	if grp.Is6() {
		proto = syscall.ETH_P_IPV6
	}
	binary.BigEndian.PutUint16(ent[24:], proto)
	req.AddData(nl.NewRtAttr(mdbaSetEntry, ent))
	attrs := nl.NewRtAttr(mdbaSetEntryAttrs|syscall.NLA_F_NESTED, nil)
	if e.src != "" {
		attrs.AddRtAttr(mdbeAttrSource, addrBytes(netip.MustParseAddr(e.src)))
	}
	if e.mode != "" {
		mode := byte(0) // MCAST_EXCLUDE
		if e.mode == "include" {
			mode = 1
		}
		attrs.AddRtAttr(mdbeAttrGroupMode, []byte{mode})
		list := attrs.AddRtAttr(mdbeAttrSrcList|syscall.NLA_F_NESTED, nil)
		for _, s := range e.list {
			ent := list.AddRtAttr(mdbeSrcListEntry|syscall.NLA_F_NESTED, nil)
			ent.AddRtAttr(mdbeSrcAttrAddress, addrBytes(netip.MustParseAddr(s)))
		}
	}
	attrs.AddRtAttr(mdbeAttrDst, addrBytes(e.dst))
	req.AddData(attrs)
	_, err = req.Execute(syscall.NETLINK_ROUTE, 0)
	return err
}

// mcastListener counts the datagrams one host receives for a group.
type mcastListener struct {
	h *host
	c *net.UDPConn
}

const mcastPort = 5000

func (h *host) listenGroup(t testing.TB, group string) *mcastListener {
	t.Helper()
	var c *net.UDPConn
	err := h.ns.Do(func() error {
		ifi, err := net.InterfaceByName(vxDev)
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(group), Port: mcastPort})
		return err
	})
	if err != nil {
		t.Fatalf("%v: joining %s: %v", h, group, err)
	}
	t.Cleanup(func() { c.Close() })
	return &mcastListener{h: h, c: c}
}

// count reads for a while and returns how many datagrams carried tag.
func (l *mcastListener) count(tag []byte) int {
	n := 0
	buf := make([]byte, 2048)
	l.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		k, _, err := l.c.ReadFromUDP(buf)
		if err != nil {
			return n
		}
		if bytes.Equal(buf[:k], tag) {
			n++
		}
	}
}

// sendGroup sends n datagrams with tag from h's vx0 to group.
func (h *host) sendGroup(t testing.TB, group string, tag []byte, n int) {
	t.Helper()
	err := h.ns.Do(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(group), Port: mcastPort})
		if err != nil {
			return err
		}
		defer c.Close()
		for range n {
			if _, err := c.Write(tag); err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v: sending to %s: %v", h, group, err)
	}
}

// TestMDBForwarding: with MDB entries on the sending VTEP, IPv4 multicast
// reaches the remotes of its (S, G), (*, G) or catch-all entry only;
// link-local groups and groups without an entry still flood to the
// all-zeros remotes; a (*, G) EXCLUDE source list blocks that source even
// though the group has another remote (vxlan_mdb_entry_skb_get,
// vxlan_mdb_xmit; test_vxlan_mdb.sh). The same steps run with the kernel
// as the sender, and the receivers are kernel VTEPs.
func TestMDBForwarding(t *testing.T) {
	forEachKind(t, func(t *testing.T, dut kind) {
		l := newLab(t, labConfig{kinds: []kind{dut, kindKernel, kindKernel, kindKernel}})
		h1 := l.hosts[0]
		rx := l.hosts[1:]
		h1.ns.IP(t, "route", "add", "224.0.0.0/4", "dev", vxDev)
		groups := []string{"239.1.1.1", "239.2.2.2", "239.3.3.3", "224.0.0.251"}
		listeners := map[string][]*mcastListener{}
		for _, g := range groups {
			for _, h := range rx {
				listeners[g] = append(listeners[g], h.listenGroup(t, g))
			}
		}
		const n = 3
		step := 0
		expect := func(name, group string, want ...*host) {
			t.Helper()
			step++
			tag := fmt.Appendf(nil, "mdb step %d", step)
			h1.sendGroup(t, group, tag, n)
			for i, ln := range listeners[group] {
				exp := 0
				for _, w := range want {
					if w == rx[i] {
						exp = n
					}
				}
				if got := ln.count(tag); got != exp {
					t.Errorf("%s: %v received %d datagrams for %s, want %d", name, rx[i], got, group, exp)
				}
			}
		}
		h2, h3, h4 := rx[0], rx[1], rx[2]
		expect("no MDB: flooded", "239.1.1.1", h2, h3, h4)
		h1.MDBAdd(t, mdbEntry{grp: "239.1.1.1", dst: h2.Underlay()})
		expect("(*, G)", "239.1.1.1", h2)
		expect("no entry, no catch-all: flooded", "239.2.2.2", h2, h3, h4)
		h1.MDBAdd(t, mdbEntry{grp: "239.1.1.1", src: h1.In4().String(), dst: h3.Underlay()})
		expect("(S, G) before (*, G)", "239.1.1.1", h3)
		h1.MDBAdd(t, mdbEntry{grp: "0.0.0.0", dst: h4.Underlay()})
		expect("catch-all", "239.2.2.2", h4)
		expect("link-local group: flooded, not the catch-all", "224.0.0.251", h2, h3, h4)
		h1.MDBAdd(t, mdbEntry{grp: "239.3.3.3", mode: "exclude", list: []string{h1.In4().String()}, dst: h2.Underlay()})
		h1.MDBAdd(t, mdbEntry{grp: "239.3.3.3", dst: h3.Underlay()})
		expect("(S, G) with only a blocked remote", "239.3.3.3")
	})
}
