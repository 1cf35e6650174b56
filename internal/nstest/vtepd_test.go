package nstest

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestVtepdAgainstKernel is the README's by-hand path in a test: vtepd and
// `vtep link add … type vxlan` in one namespace, the kernel's vxlan in the
// other, ping and a checksummed 20 MiB TCP transfer both ways, with the
// daemon's offloads on and off. It skips until cmd/vtepd and cmd/vtep exist.
func TestVtepdAgainstKernel(t *testing.T) {
	SkipUnlessRoot(t)
	RequireTools(t, "ping")
	bin := BuildBinaries(t)
	for _, offload := range []string{"on", "off"} {
		t.Run("offload "+offload, func(t *testing.T) {
			testVtepdAgainstKernel(t, bin, offload)
		})
	}
}

func testVtepdAgainstKernel(t *testing.T, bin Binaries, offload string) {
	a, b := NewNS(t, "vtp"), NewNS(t, "krn")
	a.DisableDAD(t)
	AddVeth(t, a, b, Veth{AddrsA: []netip.Prefix{underA4}, AddrsB: []netip.Prefix{underB4}})
	// The kernel side keeps TX checksum offload on: its inner TCP/UDP
	// checksums arrive unfinished at vtepd's socket (see TxChecksumOff)
	// and vtepd must complete them, or the checksummed transfer fails.
	b.AddVXLAN(t, VXLAN{VNI: 42, Local: underB4.Addr(), Remote: underA4.Addr(), Dev: "veth0",
		Addrs: []netip.Prefix{overB4, overB6}})

	d := StartVtepd(t, a, bin, VtepdOptions{Offload: offload})
	d.Run(t, "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", underB4.Addr().String(),
		"local", underA4.Addr().String(), "dev", "veth0", "dstport", "4789")
	a.WaitLink(t, "vx0")
	a.AddAddr(t, "vx0", overA4, overA6)
	d.Run(t, "link", "set", "vx0", "up")
	a.LinkUp(t, "vx0")

	a.PingOK(t, overB4.Addr(), PingOptions{Count: 5, Interval: 10 * time.Millisecond})
	b.PingOK(t, overA4.Addr(), PingOptions{Count: 5, Interval: 10 * time.Millisecond})
	a.PingOK(t, overB6.Addr(), PingOptions{Count: 5, Interval: 10 * time.Millisecond})

	for _, dir := range []struct {
		name     string
		from, to *NS
		dst      netip.Addr
	}{
		{"vtep to kernel", a, b, overB4.Addr()},
		{"kernel to vtep", b, a, overA4.Addr()},
	} {
		t.Run(dir.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			res, err := TransferTCP(ctx, dir.from, dir.to, netip.AddrPortFrom(dir.dst, 0), 20<<20, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("transfer mismatch: sent %d bytes %x, received %d bytes %x",
					res.SentBytes, res.SentSHA256, res.ReceivedBytes, res.ReceivedSHA256)
			}
			t.Logf("20 MiB %s: %.2f Gbit/s", dir.name, res.BitsPerSecond()/1e9)
		})
	}
	if t.Failed() {
		t.Logf("kernel side, ip -s link show vx0 / veth0:\n%s%s",
			b.IP(t, "-s", "link", "show", "vx0"), b.IP(t, "-s", "link", "show", "veth0"))
		t.Logf("netstat -s (kernel side):\n%s", b.Run(t, "cat", "/proc/net/snmp"))
	}
	t.Logf("vtep -s link show vx0:\n%s", d.Run(t, "-s", "link", "show", "vx0"))
	t.Logf("vtep fdb show:\n%s", d.Run(t, "fdb", "show"))

	// SIGTERM is a clean exit that removes the daemon's interfaces.
	if err := d.Proc.Stop(); err != nil {
		t.Errorf("vtepd on SIGTERM: %v", err)
	}
	if a.LinkExists("vx0") {
		t.Error("vx0 still exists after vtepd exited")
	}
}
