package sys

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Helper function numbers (enum bpf_func_id, include/uapi/linux/bpf.h).
const (
	bpfFuncSkbLoadBytes  = 26
	bpfFuncRedirectNeigh = 152
	tcActShot            = 2
)

// bpfInsn encodes one eBPF instruction.
func bpfInsn(op uint8, dst, src uint8, off int16, imm int32) [8]byte {
	var b [8]byte
	b[0] = op
	b[1] = dst&0x0f | src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(off))
	binary.LittleEndian.PutUint32(b[4:], uint32(imm))
	return b
}

// RedirectNeighProgram returns the instructions of a tc program that reads
// the output interface index from bytes 2-5 of the frame's destination MAC
// address (native byte order) and passes the frame's network packet to
// bpf_redirect_neigh for that interface: the kernel routes it with that
// output interface and fills in the link-layer header from its neighbour
// table, resolving the neighbour first when it has to. Frames too short to
// hold the index are dropped.
func RedirectNeighProgram() []byte {
	const (
		mov64X = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
		mov64K = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
		add64K = 0x07 // BPF_ALU64 | BPF_ADD | BPF_K
		call   = 0x85 // BPF_JMP | BPF_CALL
		jneK   = 0x55 // BPF_JMP | BPF_JNE | BPF_K
		ldxW   = 0x61 // BPF_LDX | BPF_MEM | BPF_W
		exit   = 0x95 // BPF_JMP | BPF_EXIT
	)
	insns := [][8]byte{
		bpfInsn(mov64K, 2, 0, 0, 2),                  // r2 = 2 (offset: dst MAC bytes 2-5); r1 = skb
		bpfInsn(mov64X, 3, 10, 0, 0),                 // r3 = r10
		bpfInsn(add64K, 3, 0, 0, -8),                 // r3 -= 8 (stack slot)
		bpfInsn(mov64K, 4, 0, 0, 4),                  // r4 = 4 (length)
		bpfInsn(call, 0, 0, 0, bpfFuncSkbLoadBytes),  // r0 = bpf_skb_load_bytes(skb, 2, fp-8, 4)
		bpfInsn(jneK, 0, 0, 6, 0),                    // if r0 != 0 goto drop
		bpfInsn(ldxW, 1, 10, -8, 0),                  // r1 = *(u32 *)(fp-8): ifindex
		bpfInsn(mov64K, 2, 0, 0, 0),                  // r2 = NULL (no nexthop given)
		bpfInsn(mov64K, 3, 0, 0, 0),                  // r3 = 0 (plen)
		bpfInsn(mov64K, 4, 0, 0, 0),                  // r4 = 0 (flags)
		bpfInsn(call, 0, 0, 0, bpfFuncRedirectNeigh), // r0 = bpf_redirect_neigh(ifindex, NULL, 0, 0)
		bpfInsn(exit, 0, 0, 0, 0),                    // return r0 (TC_ACT_REDIRECT)
		bpfInsn(mov64K, 0, 0, 0, tcActShot),          // drop: r0 = TC_ACT_SHOT
		bpfInsn(exit, 0, 0, 0, 0),                    // return
	}
	out := make([]byte, 0, len(insns)*8)
	for _, in := range insns {
		out = append(out, in[:]...)
	}
	return out
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

// bpfLinkCreateAttr is the BPF_LINK_CREATE part of union bpf_attr.
type bpfLinkCreateAttr struct {
	progFd       uint32
	targetIfidx  uint32
	attachType   uint32
	flags        uint32
	relativeFd   uint32
	_            uint32
	expectedRevs uint64
}

// LoadSchedCLS loads insns as a BPF_PROG_TYPE_SCHED_CLS program named name
// and returns its file descriptor. On a verifier error the log is in the
// returned error.
func LoadSchedCLS(name string, insns []byte) (*os.File, error) {
	license := []byte("GPL\x00")
	log := make([]byte, 16384)
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_SCHED_CLS,
		insnCnt:  uint32(len(insns) / 8),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(log)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&log[0]))),
	}
	copy(attr.progName[:15], name)
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if e != 0 {
		if n := clen(log); n > 0 {
			return nil, fmt.Errorf("bpf prog load: %w: %s", e, log[:n])
		}
		return nil, fmt.Errorf("bpf prog load: %w", e)
	}
	unix.CloseOnExec(int(fd))
	return os.NewFile(fd, "bpf-prog:"+name), nil
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// AttachTCXIngress attaches the SCHED_CLS program prog to the ingress of
// interface ifindex (tcx, Linux 6.6+) and returns the link. The program
// stays attached until the link is closed.
func AttachTCXIngress(prog *os.File, ifindex int) (*os.File, error) {
	attr := bpfLinkCreateAttr{
		progFd:      uint32(prog.Fd()),
		targetIfidx: uint32(ifindex),
		attachType:  unix.BPF_TCX_INGRESS,
	}
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(prog)
	if e != 0 {
		return nil, fmt.Errorf("bpf link create (tcx ingress): %w", e)
	}
	unix.CloseOnExec(int(fd))
	return os.NewFile(fd, "bpf-link"), nil
}

// TUN_F_UDP_TUNNEL_GSO and TUN_F_UDP_TUNNEL_GSO_CSUM offer GSO of UDP
// tunnel packets (Linux 6.17+).
const (
	TUN_F_UDP_TUNNEL_GSO      = 0x080
	TUN_F_UDP_TUNNEL_GSO_CSUM = 0x100
)

// OpenTAPQueues creates (or attaches to) the multi-queue TAP name with a
// virtio_net_hdr of vnetHdrLen bytes and the offloads in offload on every
// queue, and returns one blocking file per queue.
func OpenTAPQueues(name string, queues, vnetHdrLen, offload int) ([]*os.File, string, error) {
	var files []*os.File
	fail := func(err error) ([]*os.File, string, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, "", err
	}
	for range queues {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		var req [40]byte
		copy(req[:15], name)
		*(*uint16)(unsafe.Pointer(&req[16])) = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE
		if err := ioctl(uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); err != nil {
			unix.Close(fd)
			return fail(os.NewSyscallError("ioctl TUNSETIFF", err))
		}
		name = string(req[:clen(req[:16])])
		files = append(files, os.NewFile(uintptr(fd), "/dev/net/tun"))
		if err := SetVnetHdrSize(uintptr(fd), vnetHdrLen); err != nil {
			return fail(os.NewSyscallError("ioctl TUNSETVNETHDRSZ", err))
		}
		if err := SetTAPOffload(uintptr(fd), offload); err != nil {
			return fail(os.NewSyscallError("ioctl TUNSETOFFLOAD", err))
		}
	}
	return files, name, nil
}
