package tap_test

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/vtepd/vtep/tap"
)

var _ tap.MetaDevice = (*tap.Pipe)(nil)

func newBufs(n, size int) ([][]byte, []int) {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, size)
	}
	return b, make([]int, n)
}

// TestPipeInjectReadWithMeta: injected frames come out of ReadMeta in
// order, at the offset, with their metadata, batched up to len(bufs).
func TestPipeInjectReadWithMeta(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{})
	defer p.Close()
	for i := range 3 {
		if err := p.InjectMeta([]byte{byte(i), 1, 2}, tap.Meta{Mark: uint32(i + 10)}); err != nil {
			t.Fatal(err)
		}
	}
	bufs, sizes := newBufs(2, 64)
	metas := make([]tap.Meta, 2)
	n, err := p.ReadMeta(bufs, sizes, metas, tap.Headroom/4)
	if err != nil || n != 2 {
		t.Fatalf("ReadMeta = %d, %v; want 2 frames", n, err)
	}
	for i := range n {
		if got := bufs[i][tap.Headroom/4 : tap.Headroom/4+sizes[i]]; !bytes.Equal(got, []byte{byte(i), 1, 2}) || metas[i].Mark != uint32(i+10) {
			t.Errorf("frame %d = %x mark %d", i, got, metas[i].Mark)
		}
	}
	n, err = p.Read(bufs, sizes, 0)
	if err != nil || n != 1 || bufs[0][0] != 2 {
		t.Fatalf("Read = %d, %v, first byte %d", n, err, bufs[0][0])
	}
}

// TestPipeInjectCopies: the Pipe keeps its own copy of injected frames.
func TestPipeInjectCopies(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{})
	defer p.Close()
	f := []byte{1, 2, 3}
	p.Inject(f)
	f[0] = 9
	bufs, sizes := newBufs(1, 8)
	p.Read(bufs, sizes, 0)
	if bufs[0][0] != 1 {
		t.Fatal("Inject did not copy the frame")
	}
}

// TestPipeWriteToOut: written frames (from the offset) come out of Out as
// fresh copies with their metadata.
func TestPipeWriteToOut(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{})
	bufs := [][]byte{{0, 0, 7, 8}, {0, 0, 9}}
	n, err := p.WriteMeta(bufs, []tap.Meta{{Mark: 1}, {Protocol: 0x800}}, 2)
	if n != 2 || err != nil {
		t.Fatalf("WriteMeta = %d, %v", n, err)
	}
	bufs[0][2] = 0
	f := <-p.Out()
	if !bytes.Equal(f.Data, []byte{7, 8}) || f.Meta.Mark != 1 {
		t.Errorf("first frame %x %+v", f.Data, f.Meta)
	}
	if f = <-p.Out(); !bytes.Equal(f.Data, []byte{9}) || f.Meta.Protocol != 0x800 {
		t.Errorf("second frame %x %+v", f.Data, f.Meta)
	}
	p.Close()
	if _, ok := <-p.Out(); ok {
		t.Error("Out not closed by Close")
	}
	if _, err := p.Write(bufs, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

// TestPipeWriteFull: when Out is full, Write stops, reports how many
// frames it wrote and counts the rest as dropped.
func TestPipeWriteFull(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{QueueLen: 2})
	defer p.Close()
	n, err := p.Write([][]byte{{1}, {2}, {3}, {4}}, 0)
	if n != 2 || !errors.Is(err, tap.ErrPipeFull) || p.Dropped() != 2 {
		t.Fatalf("Write = %d, %v, dropped %d; want 2, ErrPipeFull, 2", n, err, p.Dropped())
	}
}

// TestPipeTruncatesLongFrames: a frame longer than the buffer is cut
// short.
func TestPipeTruncatesLongFrames(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{})
	defer p.Close()
	p.Inject(make([]byte, 100))
	bufs, sizes := newBufs(1, 40)
	if n, _ := p.Read(bufs, sizes, 8); n != 1 || sizes[0] != 32 {
		t.Fatalf("read %d frames of %d bytes, want 1 of 32", n, sizes[0])
	}
}

// TestPipeCloseUnblocksRead: Close makes a blocked Read return
// net.ErrClosed, and Inject fail.
func TestPipeCloseUnblocksRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := tap.NewPipe(tap.PipeOptions{})
		errc := make(chan error)
		go func() {
			bufs, sizes := newBufs(1, 8)
			_, err := p.Read(bufs, sizes, 0)
			errc <- err
		}()
		synctest.Wait()
		p.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if err := p.Inject([]byte{1}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Inject after Close: %v", err)
		}
		p.Close() // idempotent
	})
}

// TestPipeConcurrentUse exercises both ends from several goroutines under
// the race detector.
func TestPipeConcurrentUse(t *testing.T) {
	p := tap.NewPipe(tap.PipeOptions{QueueLen: 64})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			p.Inject([]byte{byte(i)})
		}
	}()
	go func() {
		defer wg.Done()
		bufs, sizes := newBufs(8, 8)
		for got := 0; got < 200; {
			n, err := p.Read(bufs, sizes, 0)
			if err != nil {
				t.Error(err)
				return
			}
			p.Write(bufs[:n], 0)
			got += n
		}
	}()
	out := make(chan int)
	go func() {
		n := 0
		for range p.Out() {
			n++
		}
		out <- n
	}()
	wg.Wait()
	p.Close()
	if n := <-out; uint64(n)+p.Dropped() != 200 {
		t.Errorf("%d frames out + %d dropped, want 200", n, p.Dropped())
	}
}
