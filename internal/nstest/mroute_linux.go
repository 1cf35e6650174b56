package nstest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mroute is what a static multicast routing daemon (smcrouted) does to a
// namespace, for tests: it holds the namespace's multicast routing sockets
// (MRT_INIT on a raw IGMP socket, MRT6_INIT on a raw ICMPv6 one), makes
// devices vifs (mifs) and installs (S, G) and (*, G) cache entries. The
// kernel removes all of it when Close closes the sockets.
type Mroute struct {
	fd4, fd6 int
	vifs     map[int]uint16 // ifindex → vif
	mifs     map[int]uint16 // ifindex → mif
}

// Socket options of include/uapi/linux/mroute.h and mroute6.h.
const (
	mrtInit   = 200 // MRT_INIT, MRT6_INIT
	mrtAddVif = 202 // MRT_ADD_VIF, MRT6_ADD_MIF
	mrtAddMFC = 204 // MRT_ADD_MFC, MRT6_ADD_MFC
	mrtAssert = 207 // MRT_ASSERT, MRT6_ASSERT

	viffUseIfindex = 0x8 // VIFF_USE_IFINDEX
	mfcctlSize     = 60  // struct mfcctl
	mf6cctlSize    = 92  // struct mf6cctl
)

// OpenMroute opens the multicast routing sockets of ns (both families).
func (ns *NS) OpenMroute() (*Mroute, error) {
	m := &Mroute{fd4: -1, fd6: -1, vifs: make(map[int]uint16), mifs: make(map[int]uint16)}
	err := ns.Do(func() error {
		var err error
		if m.fd4, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_IGMP); err != nil {
			return fmt.Errorf("IGMP socket: %w", err)
		}
		if err := syscall.SetsockoptInt(m.fd4, syscall.IPPROTO_IP, mrtInit, 1); err != nil {
			return fmt.Errorf("MRT_INIT: %w", err)
		}
		if m.fd6, err = syscall.Socket(syscall.AF_INET6, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMPV6); err != nil {
			return fmt.Errorf("ICMPv6 socket: %w", err)
		}
		if err := syscall.SetsockoptInt(m.fd6, syscall.IPPROTO_IPV6, mrtInit, 1); err != nil {
			return fmt.Errorf("MRT6_INIT: %w", err)
		}
		return nil
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("nstest: open mroute in %s: %w", ns.Name, err)
	}
	return m, nil
}

// Close closes the sockets, which flushes the vifs and the cache.
func (m *Mroute) Close() {
	for _, fd := range []int{m.fd4, m.fd6} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
	m.fd4, m.fd6 = -1, -1
}

// AddVif makes device ifindex a vif for IPv4 (VIFF_USE_IFINDEX, TTL
// threshold 1) and a mif for IPv6.
func (m *Mroute) AddVif(ifindex int) error {
	if _, ok := m.vifs[ifindex]; !ok {
		vif := uint16(len(m.vifs))
		b := make([]byte, 16) // struct vifctl
		binary.NativeEndian.PutUint16(b[0:], vif)
		b[2], b[3] = viffUseIfindex, 1
		binary.NativeEndian.PutUint32(b[8:], uint32(ifindex))
		if err := syscall.SetsockoptString(m.fd4, syscall.IPPROTO_IP, mrtAddVif, string(b)); err != nil {
			return fmt.Errorf("nstest: MRT_ADD_VIF %d: %w", ifindex, err)
		}
		m.vifs[ifindex] = vif
	}
	if _, ok := m.mifs[ifindex]; !ok {
		mif := uint16(len(m.mifs))
		b := make([]byte, 12) // struct mif6ctl
		binary.NativeEndian.PutUint16(b[0:], mif)
		b[3] = 1
		binary.NativeEndian.PutUint16(b[4:], uint16(ifindex))
		if err := syscall.SetsockoptString(m.fd6, syscall.IPPROTO_IPV6, mrtAddVif, string(b)); err != nil {
			return fmt.Errorf("nstest: MRT6_ADD_MIF %d: %w", ifindex, err)
		}
		m.mifs[ifindex] = mif
	}
	return nil
}

// AddMFC installs the cache entry (src, group) — src unspecified for
// (*, G) — with incoming interface iif and outgoing interfaces oifs (TTL
// threshold 1), as `smcroutectl add IIF SRC GROUP OIF...` does. The
// devices must be vifs (AddVif).
func (m *Mroute) AddMFC(src, group netip.Addr, iif int, oifs ...int) error {
	if group.Is4() {
		b := make([]byte, mfcctlSize)
		s4, g4 := src.As4(), group.As4()
		copy(b[0:4], s4[:])
		copy(b[4:8], g4[:])
		binary.NativeEndian.PutUint16(b[8:], m.vifs[iif])
		for _, o := range oifs {
			b[10+m.vifs[o]] = 1
		}
		if err := syscall.SetsockoptString(m.fd4, syscall.IPPROTO_IP, mrtAddMFC, string(b)); err != nil {
			return fmt.Errorf("nstest: MRT_ADD_MFC (%v, %v): %w", src, group, err)
		}
		return nil
	}
	b := make([]byte, mf6cctlSize)
	for i, a := range []netip.Addr{src, group} {
		sa := b[i*28:]
		binary.NativeEndian.PutUint16(sa[0:], syscall.AF_INET6)
		a16 := a.As16()
		copy(sa[8:24], a16[:])
	}
	binary.NativeEndian.PutUint16(b[56:], m.mifs[iif])
	for _, o := range oifs {
		mif := m.mifs[o]
		w := 60 + int(mif/32)*4
		binary.NativeEndian.PutUint32(b[w:], binary.NativeEndian.Uint32(b[w:])|1<<(mif%32))
	}
	if err := syscall.SetsockoptString(m.fd6, syscall.IPPROTO_IPV6, mrtAddMFC, string(b)); err != nil {
		return fmt.Errorf("nstest: MRT6_ADD_MFC (%v, %v): %w", src, group, err)
	}
	return nil
}

// SetAssert turns on the reports of packets that arrive on an interface
// other than their entry's incoming one (MRT_ASSERT and MRT6_ASSERT, as
// pimd sets them): IGMPMSG_WRONGVIF and MRT6MSG_WRONGMIF, at most one per
// entry in 3 s (MFC_ASSERT_THRESH), for an entry that has the interface
// the packet came by among its outgoing ones.
func (m *Mroute) SetAssert() error {
	if err := syscall.SetsockoptInt(m.fd4, syscall.IPPROTO_IP, mrtAssert, 1); err != nil {
		return fmt.Errorf("nstest: MRT_ASSERT: %w", err)
	}
	if err := syscall.SetsockoptInt(m.fd6, syscall.IPPROTO_IPV6, mrtAssert, 1); err != nil {
		return fmt.Errorf("nstest: MRT6_ASSERT: %w", err)
	}
	return nil
}

// Upcall is a message the kernel's multicast routing sends its daemon
// (struct igmpmsg, struct mrt6msg).
type Upcall struct {
	// Type is the message type: 1 is IGMPMSG_NOCACHE (MRT6MSG_NOCACHE), a
	// packet with no cache entry.
	Type uint8
	// Ifindex is the device of the vif (mif) the packet came in by.
	Ifindex int
	// Src and Group are the packet's source and destination.
	Src, Group netip.Addr
}

// Upcall types.
const (
	// UpcallNoCache is IGMPMSG_NOCACHE and MRT6MSG_NOCACHE.
	UpcallNoCache = 1
	// UpcallWrongVif is IGMPMSG_WRONGVIF and MRT6MSG_WRONGMIF: a packet
	// came by another interface than its entry's incoming one; Ifindex is
	// the one it came by.
	UpcallWrongVif = 2
)

// ReadUpcall waits up to timeout for the next upcall of family v6 (or
// IPv4), skipping the IGMP and ICMPv6 packets the sockets also receive.
func (m *Mroute) ReadUpcall(v6 bool, timeout time.Duration) (Upcall, error) {
	fd := m.fd4
	if v6 {
		fd = m.fd6
	}
	deadline := time.Now().Add(timeout)
	b := make([]byte, 2048)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Upcall{}, fmt.Errorf("nstest: no upcall in %v", timeout)
		}
		tv := syscall.NsecToTimeval(left.Nanoseconds())
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
			return Upcall{}, err
		}
		n, _, err := syscall.Recvfrom(fd, b, 0)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Upcall{}, fmt.Errorf("nstest: read upcall: %w", err)
		}
		if u, ok := m.parseUpcall(v6, b[:n]); ok {
			return u, nil
		}
	}
}

// parseUpcall reads an igmpmsg, which takes the place of an IP header
// whose protocol (im_mbz) is 0, or an mrt6msg, which takes the place of
// an ICMPv6 header whose type (im6_mbz) is 0.
func (m *Mroute) parseUpcall(v6 bool, b []byte) (Upcall, bool) {
	var u Upcall
	var vif uint16
	vifs := m.vifs
	if v6 {
		if len(b) < 40 || b[0] != 0 {
			return u, false
		}
		u.Type = b[1]
		vif = binary.NativeEndian.Uint16(b[2:])
		u.Src = netip.AddrFrom16([16]byte(b[8:24]))
		u.Group = netip.AddrFrom16([16]byte(b[24:40]))
		vifs = m.mifs
	} else {
		if len(b) < 20 || b[9] != 0 {
			return u, false
		}
		u.Type = b[8]
		vif = uint16(b[10]) | uint16(b[11])<<8
		u.Src = netip.AddrFrom4([4]byte(b[12:16]))
		u.Group = netip.AddrFrom4([4]byte(b[16:20]))
	}
	for ifi, v := range vifs {
		if v == vif {
			u.Ifindex = ifi
		}
	}
	return u, true
}

// MFCStats is one cache entry's counters, as /proc/net/ip_mr_cache and
// /proc/net/ip6_mr_cache show them (ipmr_mfc_seq_show).
type MFCStats struct {
	Group, Src netip.Addr
	// Pkts and Bytes count the packets forwarding looked the entry up
	// for; Wrong those of them that came by another interface than the
	// entry's incoming one and were not the host's own (ip_mr_forward's
	// wrong_if).
	Pkts, Bytes, Wrong uint64
}

// MFCStats returns the counters of the cache entries of ns of family v6,
// those of unresolved entries 0.
func (ns *NS) MFCStats(t testing.TB, v6 bool) []MFCStats {
	t.Helper()
	f := "/proc/net/ip_mr_cache"
	if v6 {
		f = "/proc/net/ip6_mr_cache"
	}
	s, err := parseMFCCache(ns.Run(t, "cat", f), v6)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseMFCCache parses ipmr_mfc_seq_show's table: a header line, then per
// entry the group, the origin, the incoming vif, and the packet, byte and
// wrong-interface counts. IPv4 addresses are the hexadecimal of the
// address read as a host-order integer, IPv6 ones written out in full.
func parseMFCCache(out string, v6 bool) ([]MFCStats, error) {
	var stats []MFCStats
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("nstest: multicast cache line %q: too few fields", line)
		}
		var s MFCStats
		var addrs [2]netip.Addr
		for j := range addrs {
			var err error
			if v6 {
				if addrs[j], err = netip.ParseAddr(f[j]); err == nil && !addrs[j].Is6() {
					err = fmt.Errorf("%v is not an IPv6 address", addrs[j])
				}
			} else {
				var n uint64
				n, err = strconv.ParseUint(f[j], 16, 32)
				var b [4]byte
				binary.NativeEndian.PutUint32(b[:], uint32(n))
				addrs[j] = netip.AddrFrom4(b)
			}
			if err != nil {
				return nil, fmt.Errorf("nstest: multicast cache line %q: %w", line, err)
			}
		}
		s.Group, s.Src = addrs[0], addrs[1]
		for j, p := range []*uint64{&s.Pkts, &s.Bytes, &s.Wrong} {
			var err error
			if *p, err = strconv.ParseUint(f[3+j], 10, 64); err != nil {
				return nil, fmt.Errorf("nstest: multicast cache line %q: %w", line, err)
			}
		}
		stats = append(stats, s)
	}
	return stats, nil
}
