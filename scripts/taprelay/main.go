// Command taprelay is the TAP-only reference of scripts/bench.sh:
// it creates two TAP interfaces with the offloads vtep negotiates (checksum,
// TSO4, TSO6, virtio_net_hdr) and copies every frame read from one into the
// other, TSO super-frames as they are, with one blocking read and one write
// per frame and one thread per direction. There is no encapsulation, no UDP
// socket, no segmentation and no coalescing: what it costs is what moving
// frames in and out of TAPs costs, which a tunnel behind a TAP pays on top
// of its own work.
//
// Usage: taprelay [-offload=false] NAME-A NAME-B
//
// It prints "ready" once both interfaces exist and relays until it is
// signalled. The interfaces go with it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	offload := flag.Bool("offload", true, "negotiate checksum and TSO offloads")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: taprelay [-offload=false] NAME-A NAME-B")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	a, err := openTAP(flag.Arg(0), *offload)
	if err != nil {
		fail(err)
	}
	b, err := openTAP(flag.Arg(1), *offload)
	if err != nil {
		fail(err)
	}
	go relay(a, b)
	go relay(b, a)
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, unix.SIGTERM)
	<-sig
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "taprelay:", err)
	os.Exit(1)
}

// openTAP creates the TAP interface name (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
// a 12-byte virtio_net_hdr as vtep uses) and returns its descriptor.
func openTAP(name string, offload bool) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return -1, fmt.Errorf("%s: TUNSETIFF: %w", name, err)
	}
	hdrLen := int32(12)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdrLen))); e != 0 {
		return -1, fmt.Errorf("%s: TUNSETVNETHDRSZ: %w", name, e)
	}
	if offload {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
			return -1, fmt.Errorf("%s: TUNSETOFFLOAD: %w", name, err)
		}
	}
	return fd, nil
}

// relay copies frames from one TAP to the other, on a thread of its own.
func relay(from, to int) {
	runtime.LockOSThread()
	buf := make([]byte, 12+65535+22)
	for {
		n, err := unix.Read(from, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fail(err)
		}
		unix.Write(to, buf[:n]) // a frame the other side refuses is dropped, as a full ring would
	}
}
