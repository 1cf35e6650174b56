package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtep/internal/nstest"
)

// TestKernelPeerChecksumOffload: a kernel vxlan peer over a veth with its
// transmit checksum offload left on (the default) sends inner TCP/UDP
// checksums CHECKSUM_PARTIAL, unfinished on the wire (the veth passes
// ip_summed on, veth_xmit). vtepd must finish them, or hand them to its TAP
// as NEEDS_CSUM, so that TCP from the kernel side works: a checksummed TCP
// transfer in both directions, IPv4 and IPv6 overlay, with vtepd's offloads
// on and off, with one and two workers, and with two unpinned workers.
func TestKernelPeerChecksumOffload(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "ip", "ping", "ethtool")
	bin := nstest.BuildBinaries(t)
	for _, tc := range []struct {
		offload string
		workers int
		pin     string
	}{{"on", 1, "on"}, {"off", 1, "on"}, {"on", 2, "on"}, {"on", 2, "off"}} {
		t.Run("offload "+tc.offload+" workers "+strconv.Itoa(tc.workers)+" pin "+tc.pin, func(t *testing.T) {
			testKernelPeerChecksumOffload(t, bin, tc.offload, tc.workers, tc.pin)
		})
	}
}

func testKernelPeerChecksumOffload(t *testing.T, bin nstest.Binaries, offload string, workers int, pin string) {
	var (
		underA = netip.MustParsePrefix("198.18.0.1/24")
		underB = netip.MustParsePrefix("198.18.0.2/24")
		overA4 = netip.MustParsePrefix("192.168.42.1/24")
		overB4 = netip.MustParsePrefix("192.168.42.2/24")
		overA6 = netip.MustParsePrefix("fd42:42::1/64")
		overB6 = netip.MustParsePrefix("fd42:42::2/64")
	)
	a, b := nstest.NewNS(t, "csa"), nstest.NewNS(t, "csb")
	a.DisableDAD(t)
	b.DisableDAD(t)
	nstest.AddVeth(t, a, b, nstest.Veth{AddrsA: []netip.Prefix{underA}, AddrsB: []netip.Prefix{underB}})
	if out := b.Run(t, "ethtool", "-k", "veth0"); !strings.Contains(out, "tx-checksum-ip-generic: on") {
		t.Fatalf("the kernel side's veth must keep tx checksum offload on:\n%s", out)
	}
	b.AddVXLAN(t, nstest.VXLAN{VNI: 42, Local: underB.Addr(), Remote: underA.Addr(), Dev: "veth0",
		Addrs: []netip.Prefix{overB4, overB6}})

	d := nstest.StartVtepd(t, a, bin, nstest.VtepdOptions{Offload: offload, Workers: workers, Args: []string{"-pin", pin}})
	d.Run(t, "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", underB.Addr().String(),
		"local", underA.Addr().String(), "dev", "veth0", "dstport", "4789")
	a.WaitLink(t, "vx0")
	// One TAP queue per worker.
	if out := a.Run(t, "ls", "/sys/class/net/vx0/queues"); strings.Count(out, "tx-") != workers {
		t.Errorf("vx0 queues: %q, want %d tx queues", out, workers)
	}
	a.AddAddr(t, "vx0", overA4, overA6)
	d.Run(t, "link", "set", "vx0", "up")
	a.LinkUp(t, "vx0")
	a.PingOK(t, overB4.Addr(), nstest.PingOptions{Count: 3, Interval: 10 * time.Millisecond})
	a.PingOK(t, overB6.Addr(), nstest.PingOptions{Count: 3, Interval: 10 * time.Millisecond})

	for _, dir := range []struct {
		name     string
		from, to *nstest.NS
		dst      netip.Addr
	}{
		{"kernel to vtep IPv4", b, a, overA4.Addr()},
		{"vtep to kernel IPv4", a, b, overB4.Addr()},
		{"kernel to vtep IPv6", b, a, overA6.Addr()},
	} {
		t.Run(dir.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			res, err := nstest.TransferTCP(ctx, dir.from, dir.to, netip.AddrPortFrom(dir.dst, 0), 32<<20, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("transfer mismatch: sent %d bytes, received %d", res.SentBytes, res.ReceivedBytes)
			}
			t.Logf("32 MiB %s: %.2f Gbit/s", dir.name, res.BitsPerSecond()/1e9)
		})
	}
	out := d.Run(t, "-s", "-j", "link", "show", "vx0")
	if !strings.Contains(out, `"rx_csum_partial"`) {
		t.Errorf("no rx_csum_partial counter in %s", out)
	}
	if strings.Contains(out, `"rx_csum_partial":0`) || strings.Contains(out, `"rx_csum_partial": 0`) {
		t.Errorf("no partial checksums seen from the kernel peer: %s", out)
	}
	if t.Failed() {
		t.Logf("vtep -s link show:\n%s", d.Run(t, "-s", "link", "show", "vx0"))
		t.Logf("vtepd log:\n%s", d.Proc.Output())
	}
}

// TestWorkersMulticastDeliveredOnce: with several workers, each of
// vtepd's UDP sockets on the port gets its own copy of a multicast
// datagram (__udp4_lib_mcast_deliver clones the skb for every matching
// socket of a SO_REUSEPORT group; IP_MULTICAST_ALL lets the sockets that
// did not join match too). A group link must still deliver every flooded
// frame once: five broadcast pings from a kernel peer on the group arrive
// as five frames.
func TestWorkersMulticastDeliveredOnce(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	nstest.RequireTools(t, "ip", "ping")
	bin := nstest.BuildBinaries(t)
	for _, workers := range []int{1, 3} {
		t.Run("workers "+strconv.Itoa(workers), func(t *testing.T) {
			testWorkersMulticastDeliveredOnce(t, bin, workers)
		})
	}
}

func testWorkersMulticastDeliveredOnce(t *testing.T, bin nstest.Binaries, workers int) {
	var (
		underA = netip.MustParsePrefix("198.18.0.1/24")
		underB = netip.MustParsePrefix("198.18.0.2/24")
		overA  = netip.MustParsePrefix("192.168.42.1/24")
		overB  = netip.MustParsePrefix("192.168.42.2/24")
		group  = netip.MustParseAddr("239.1.1.42")
	)
	a, b := nstest.NewNS(t, "mca"), nstest.NewNS(t, "mcb")
	nstest.AddVeth(t, a, b, nstest.Veth{AddrsA: []netip.Prefix{underA}, AddrsB: []netip.Prefix{underB}})
	// No IPv6 on the overlay: its router solicitations and MLD reports
	// would be flooded too.
	b.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
	a.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1")
	b.AddVXLAN(t, nstest.VXLAN{VNI: 42, Local: underB.Addr(), Group: group, Dev: "veth0", Addrs: []netip.Prefix{overB}})

	d := nstest.StartVtepd(t, a, bin, nstest.VtepdOptions{Offload: "on", Workers: workers})
	d.Run(t, "link", "add", "vx0", "type", "vxlan", "id", "42", "group", group.String(),
		"local", underA.Addr().String(), "dev", "veth0", "dstport", "4789")
	a.WaitLink(t, "vx0")
	a.AddAddr(t, "vx0", overA)
	d.Run(t, "link", "set", "vx0", "up")
	a.LinkUp(t, "vx0")
	// Both ways, so that every TX queue's socket has sent to the group
	// or to the peer by now.
	a.PingOK(t, overB.Addr(), nstest.PingOptions{Count: 4, Interval: 10 * time.Millisecond})
	b.PingOK(t, overA.Addr(), nstest.PingOptions{Count: 4, Interval: 10 * time.Millisecond})

	rxPackets := func() int {
		var ls []struct {
			Stats struct {
				RX struct {
					Packets int `json:"packets"`
				} `json:"rx"`
			} `json:"stats64"`
		}
		if err := json.Unmarshal([]byte(d.Run(t, "-s", "-j", "link", "show", "vx0")), &ls); err != nil || len(ls) != 1 {
			t.Fatalf("vtep -s -j link show: %v", err)
		}
		return ls[0].Stats.RX.Packets
	}
	before := rxPackets()
	// Broadcast echo requests: flooded to the group; nobody answers
	// (icmp_echo_ignore_broadcasts), so nothing else crosses the tunnel.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b.Exec(ctx, "ping", "-b", "-c", "5", "-i", "0.01", "-W", "1", "192.168.42.255")
	nstest.WaitFor(t, 5*time.Second, "five flooded frames", func() error {
		if got := rxPackets() - before; got != 5 {
			return fmt.Errorf("link received %d frames, want 5", got)
		}
		return nil
	})
}
