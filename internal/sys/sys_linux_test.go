package sys

import (
	"errors"
	"testing"
)

func TestKernelAtLeast(t *testing.T) {
	if !KernelAtLeast(3, 0) {
		t.Error("KernelAtLeast(3, 0) = false on a running Linux")
	}
	if KernelAtLeast(999, 0) {
		t.Error("KernelAtLeast(999, 0) = true")
	}
}

// TestNetNSDoRunsFn: Do in the caller's own namespace just runs fn and
// passes its error through.
func TestNetNSDoRunsFn(t *testing.T) {
	ns, err := CurrentNetNS()
	if err != nil {
		t.Skipf("no /proc/thread-self/ns/net: %v", err)
	}
	defer ns.Close()
	want := errors.New("ran")
	if err := ns.Do(func() error { return want }); err != want {
		t.Errorf("Do = %v, want %v", err, want)
	}
}

func TestSocketOptionsRoundTrip(t *testing.T) {
	f, err := Socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, "test", func(fd int) error {
		if err := SetInt(fd, SOL_IP, IP_RECVTOS, 1); err != nil {
			return err
		}
		return Bind4(fd, [4]byte{127, 0, 0, 1}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, _ := f.SyscallConn()
	rc.Control(func(fd uintptr) {
		if v, err := GetInt(int(fd), SOL_IP, IP_RECVTOS); err != nil || v != 1 {
			t.Errorf("IP_RECVTOS = %d, %v", v, err)
		}
		if p, err := LocalPort(int(fd)); err != nil || p == 0 {
			t.Errorf("LocalPort = %d, %v", p, err)
		}
	})
}
