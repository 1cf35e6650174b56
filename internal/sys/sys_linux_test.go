package sys

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
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

// TestNonBlockingIO: the raw I/O calls report EAGAIN on an empty
// non-blocking fd (the poller then parks the goroutine) and move data
// otherwise.
func TestNonBlockingIO(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	r, w := uintptr(p[0]), uintptr(p[1])
	buf := make([]byte, 16)
	if _, err := Read(r, buf); err != EAGAIN {
		t.Fatalf("Read on an empty pipe: %v, want EAGAIN", err)
	}
	if n, err := Write(w, []byte("ab")); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	var iov [2]Iovec
	SetIovec(&iov[0], []byte("cd"))
	SetIovec(&iov[1], []byte("ef"))
	if n, err := Writev(w, iov[:]); n != 4 || err != nil {
		t.Fatalf("Writev = %d, %v", n, err)
	}
	SetIovec(&iov[0], buf[:3])
	SetIovec(&iov[1], buf[3:])
	if n, err := Readv(r, iov[:]); n != 6 || err != nil || string(buf[:6]) != "abcdef" {
		t.Fatalf("Readv = %d, %v, %q", n, err, buf[:6])
	}

	f, err := Socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, "test", func(fd int) error {
		return Bind4(fd, [4]byte{127, 0, 0, 1}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, _ := f.SyscallConn()
	rc.Control(func(fd uintptr) {
		msgs := make([]Mmsghdr, 2)
		for i := range msgs {
			msgs[i].Hdr.Iov = &iov[i]
			msgs[i].Hdr.SetIovlen(1)
		}
		SetIovec(&iov[0], buf[:8])
		SetIovec(&iov[1], buf[8:])
		if _, err := Recvmmsg(fd, msgs, MSG_DONTWAIT); err != EAGAIN {
			t.Errorf("Recvmmsg on an empty socket: %v, want EAGAIN", err)
		}
		port, _ := LocalPort(int(fd))
		var to [SizeofSockaddrInet4]byte
		to[0], to[1] = byte(AF_INET), byte(AF_INET>>8) // sa_family, native (little) endian
		to[2], to[3] = byte(port>>8), byte(port)
		to[4], to[5], to[6], to[7] = 127, 0, 0, 1
		for i := range msgs {
			msgs[i].Hdr.Name = &to[0]
			msgs[i].Hdr.Namelen = SizeofSockaddrInet4
		}
		SetIovec(&iov[0], []byte("x"))
		SetIovec(&iov[1], []byte("y"))
		if n, err := Sendmmsg(fd, msgs, 0); n != 2 || err != nil {
			t.Errorf("Sendmmsg = %d, %v", n, err)
		}
		for i := range msgs {
			msgs[i].Hdr.Name, msgs[i].Hdr.Namelen = nil, 0
		}
		SetIovec(&iov[0], buf[:8])
		SetIovec(&iov[1], buf[8:])
		if n, err := Recvmmsg(fd, msgs, MSG_DONTWAIT); n != 2 || err != nil || msgs[0].Len != 1 || msgs[1].Len != 1 ||
			buf[0] != 'x' || buf[8] != 'y' {
			t.Errorf("Recvmmsg = %d, %v (lengths %d, %d)", n, err, msgs[0].Len, msgs[1].Len)
		}
	})
}
