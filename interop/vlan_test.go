package interop

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/header"
	"github.com/vtepd/vtep/internal/nstest"
)

// VLAN-tagged overlay traffic without VLAN devices.
//
// This project's kernels are built without 802.1Q devices
// (CONFIG_VLAN_8021Q) and without VLAN filtering in the bridge, so the
// selftests that put VLANs over vxlan (l2_tos_ttl_inherit.sh's vlan cases,
// q_in_vni.sh) cannot be rewritten as they are. What a VLAN device on vx0
// does to the frames vx0 carries can be done with two small tc (tcx)
// programs instead: on egress, bpf_skb_vlan_push gives every frame the tags
// (as a hardware-accelerated tag, which the device then inserts: tun puts
// it into the frame it hands to vtepd, vxlan pushes it into the packet); on
// ingress, after the stack has moved the received tag out of the frame
// (skb_vlan_untag), bpf_skb_vlan_pop removes it again, so the host's IP
// stack sees its own traffic, as through a VLAN device.

// vlanTag is one tag pushed on egress, the outermost last.
type vlanTag struct {
	tpid uint16 // 0x8100 or 0x88a8
	vid  uint16
}

// tagVLAN makes every frame that dev in ns sends carry tags, and removes
// that many tags from every frame it receives, until the test ends.
func tagVLAN(t testing.TB, ns *nstest.NS, dev string, tags ...vlanTag) {
	t.Helper()
	var push, pop []bpfInsn
	for _, tg := range tags {
		push = append(push,
			bpfMov(6, 1), // keep the context: helpers clobber r1-r5
			bpfMovImm(2, int32(htons(tg.tpid))),
			bpfMovImm(3, int32(tg.vid)),
			bpfCall(bpfFuncSkbVLANPush),
			bpfMov(1, 6))
		pop = append(pop, bpfMov(6, 1), bpfCall(bpfFuncSkbVLANPop), bpfMov(1, 6))
	}
	ifi := ns.Ifindex(t, dev)
	var links []int
	err := ns.Do(func() error {
		for _, p := range []struct {
			insns  []bpfInsn
			attach uint32
		}{{push, unix.BPF_TCX_EGRESS}, {pop, unix.BPF_TCX_INGRESS}} {
			insns := append(p.insns, bpfMovImm(0, tcxNext), bpfExit())
			prog, err := bpfLoadSchedCLS(insns)
			if err != nil {
				return err
			}
			link, err := bpfTCXAttach(prog, ifi, p.attach)
			unix.Close(prog) // the link holds the program
			if err != nil {
				return err
			}
			links = append(links, link)
		}
		return nil
	})
	t.Cleanup(func() {
		for _, fd := range links {
			unix.Close(fd)
		}
	})
	if err != nil {
		t.Fatalf("interop: tagging %s in %s with %v: %v", dev, ns.Name, tags, err)
	}
}

// hasTags reports whether an Ethernet frame carries exactly tags, the
// outermost (last pushed) first in the frame.
func hasTags(f header.Ethernet, tags []vlanTag) bool {
	n, ok := f.NumVLANTags()
	if !ok || n != len(tags) {
		return false
	}
	for i := range n {
		tg, ok := f.VLANTagAt(i)
		want := tags[len(tags)-1-i]
		if !ok || tg.TPID() != want.tpid || tg.ID() != want.vid {
			return false
		}
	}
	return true
}

// An eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

const (
	bpfFuncSkbVLANPush = 18 // BPF_FUNC_skb_vlan_push
	bpfFuncSkbVLANPop  = 19 // BPF_FUNC_skb_vlan_pop
	tcxNext            = -1 // TCX_NEXT: go on as if no program were attached
)

func bpfMovImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: dst, imm: imm}
}
func bpfMov(dst, src uint8) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: dst | src<<4}
}
func bpfCall(fn int32) bpfInsn { return bpfInsn{code: unix.BPF_JMP | unix.BPF_CALL, imm: fn} }
func bpfExit() bpfInsn         { return bpfInsn{code: unix.BPF_JMP | unix.BPF_EXIT} }

// bpfLoadSchedCLS loads a BPF_PROG_TYPE_SCHED_CLS program and returns its
// file descriptor; a refusal carries the verifier's log.
func bpfLoadSchedCLS(insns []bpfInsn) (int, error) {
	license := []byte("Dual MIT/GPL\x00")
	log := make([]byte, 4096)
	var attr [128]byte // union bpf_attr, BPF_PROG_LOAD
	ne := binary.NativeEndian
	ne.PutUint32(attr[0:], unix.BPF_PROG_TYPE_SCHED_CLS)
	ne.PutUint32(attr[4:], uint32(len(insns)))
	ne.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&insns[0]))))
	ne.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&license[0]))))
	ne.PutUint32(attr[24:], 1) // log_level
	ne.PutUint32(attr[28:], uint32(len(log)))
	ne.PutUint64(attr[32:], uint64(uintptr(unsafe.Pointer(&log[0]))))
	copy(attr[48:64], "vtep_vlan")
	// The verifier gives up with EAGAIN when a signal is pending, and the
	// Go runtime signals its threads (preemption): try again, as libbpf
	// does.
	var fd uintptr
	var errno syscall.Errno
	for range 50 {
		fd, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != unix.EAGAIN {
			break
		}
	}
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if errno != 0 {
		return -1, fmt.Errorf("bpf(BPF_PROG_LOAD): %v: %s", errno, unix.ByteSliceToString(log))
	}
	return int(fd), nil
}

// bpfTCXAttach attaches a program to an interface's tcx hook and returns
// the link's file descriptor, which detaches it when closed.
func bpfTCXAttach(prog, ifindex int, attach uint32) (int, error) {
	var attr [64]byte // union bpf_attr, BPF_LINK_CREATE
	ne := binary.NativeEndian
	ne.PutUint32(attr[0:], uint32(prog))
	ne.PutUint32(attr[4:], uint32(ifindex))
	ne.PutUint32(attr[8:], attach)
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return -1, fmt.Errorf("bpf(BPF_LINK_CREATE, tcx): %v", errno)
	}
	return int(fd), nil
}

// TestTCPOverVLAN sends verified TCP transfers across the overlay in
// VLAN-tagged frames: one 802.1Q tag (a VLAN device on vx0), and an 802.1ad
// tag over an 802.1Q one (QinQ, as q_in_vni.sh carries customer-tagged
// frames in a service VLAN). With offloads, vtepd reads TSO super-frames
// whose headers include the tags (tun inserts the accelerated tag and moves
// csum_start with it), segments them, and coalesces the tagged segments it
// receives (vlan_gro_receive: the tags are part of the Ethernet header that
// must match); the kernel's vxlan does the same in the kernel.
func TestTCPOverVLAN(t *testing.T) {
	forEachKindNoOffload(t, func(t *testing.T, dut kind) {
		for _, tc := range []struct {
			name string
			tags []vlanTag
		}{
			{"802.1Q", []vlanTag{{0x8100, vlanID}}},
			{"QinQ", []vlanTag{{0x8100, 10}, {0x88a8, 100}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, h1, h2 := pair(t, dut, labConfig{})
				for _, h := range l.hosts {
					tagVLAN(t, h.ns, vxDev, tc.tags...)
				}
				var before map[string]uint64
				if dut.isVtep() {
					before = h1.Stats(t).Vtep
				}
				// Every overlay frame from h1 on the wire carries the
				// tags, outermost first.
				var tagged, other atomic.Int64
				port := l.Port()
				c := startCapture(t, h2.ns, ulDev, incoming, func(f []byte) bool {
					p, ok := parseVXLAN(f, port)
					if !ok || p.Src != h1.Underlay() {
						return false
					}
					if hasTags(p.Inner, tc.tags) {
						tagged.Add(1)
					} else {
						other.Add(1)
					}
					return false
				})
				transferBothWays(t, h1, h2, vlanTransferSize(t))
				settle(t, c)
				c.close()
				if tagged.Load() == 0 || other.Load() != 0 {
					t.Errorf("%v's overlay frames on the wire: %d with the tags %v, %d without", h1, tagged.Load(), tc.tags, other.Load())
				}
				if dut != kindVtep {
					return
				}
				// The tagged TCP segments went through the offload paths.
				after := h1.Stats(t).Vtep
				for _, name := range []string{"tap_read_super_frames", "tap_gro_super_frames"} {
					if d := after[name] - before[name]; d == 0 {
						t.Errorf("%v: %s +0 over the tagged transfers", h1, name)
					}
				}
				t.Logf("%v: tap_read_super_frames +%d, tap_gro_super_frames +%d", h1,
					after["tap_read_super_frames"]-before["tap_read_super_frames"],
					after["tap_gro_super_frames"]-before["tap_gro_super_frames"])
			})
		}
	})
}

// vlanTransferSize is 20 MB, or $VTEP_INTEROP_TRANSFER_MB when set (to
// time a longer transfer).
func vlanTransferSize(t testing.TB) int64 {
	if os.Getenv("VTEP_INTEROP_TRANSFER_MB") != "" {
		return transferSize(t)
	}
	return 20 << 20
}
