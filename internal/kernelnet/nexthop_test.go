package kernelnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtep/internal/nstest"
	"github.com/vtepd/vtep/nexthop"
)

// nlmsg builds one netlink message.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 4242) // port ID
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nhPayload(nh nexthop.Nexthop) []byte { return nexthop.AppendMessage(nil, &nh) }

func errnoPayload(errno syscall.Errno) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
}

// extackMsg is an NLMSGERR_ATTR_MSG attribute.
func extackMsg(msg string) []byte {
	v := append([]byte(msg), 0)
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, unix.NLMSGERR_ATTR_MSG)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// TestNexthopDumpReply feeds hand-made datagrams to the dump reader.
func TestNexthopDumpReply(t *testing.T) {
	nh1 := nexthop.Nexthop{ID: 1, Gateway: netip.MustParseAddr("10.0.0.2"), FDB: true}
	nh10 := nexthop.Nexthop{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 3}}}
	const seq = 7
	request := nlmsg(nexthop.RTMGetNexthop, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq, make([]byte, nexthop.MessageSize))
	tests := []struct {
		name     string
		grams    [][]byte
		want     []nexthop.Nexthop
		wantErr  error  // matched with errors.Is
		wantMsg  string // the extended-ack message, for an nlError
		unsupp   bool   // the error is how a kernel without nexthops answers
		notDone  bool   // the datagrams do not end the dump
		errMatch string // a substring of the error
	}{{
		name: "one datagram",
		grams: [][]byte{slices.Concat(
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh1)),
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh10)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0)))},
		want: []nexthop.Nexthop{nh1, nh10},
	}, {
		name: "two datagrams",
		grams: [][]byte{
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh1)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0))},
		want: []nexthop.Nexthop{nh1},
	}, {
		name: "no DONE yet",
		grams: [][]byte{
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh1))},
		want:    []nexthop.Nexthop{nh1},
		notDone: true,
	}, {
		name: "leftovers of an earlier dump",
		grams: [][]byte{slices.Concat(
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq-1, nhPayload(nh10)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq-1, errnoPayload(0)),
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh1)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0)))},
		want: []nexthop.Nexthop{nh1},
	}, {
		name: "unknown type skipped",
		grams: [][]byte{slices.Concat(
			nlmsg(unix.NLMSG_NOOP, 0, seq, nil),
			nlmsg(200, unix.NLM_F_MULTI, seq, []byte{1, 2, 3, 4}),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0)))},
	}, {
		name: "interrupted",
		grams: [][]byte{
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, seq, nhPayload(nh1)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(0))},
		wantErr: errDumpInterrupted,
	}, {
		name:    "no nexthop support",
		grams:   [][]byte{nlmsg(unix.NLMSG_ERROR, 0, seq, slices.Concat(errnoPayload(syscall.EOPNOTSUPP), request))},
		wantErr: syscall.EOPNOTSUPP,
		unsupp:  true,
	}, {
		name:    "EINVAL of an old kernel",
		grams:   [][]byte{nlmsg(unix.NLMSG_ERROR, 0, seq, slices.Concat(errnoPayload(syscall.EINVAL), request))},
		wantErr: syscall.EINVAL,
		unsupp:  true,
	}, {
		name: "EINVAL with a reason",
		grams: [][]byte{nlmsg(unix.NLMSG_ERROR, unix.NLM_F_ACK_TLVS, seq, slices.Concat(
			errnoPayload(syscall.EINVAL), request, extackMsg("Invalid values in header for nexthop dump request")))},
		wantErr: syscall.EINVAL,
		wantMsg: "Invalid values in header for nexthop dump request",
	}, {
		name: "capped request with a reason",
		grams: [][]byte{nlmsg(unix.NLMSG_ERROR, unix.NLM_F_ACK_TLVS|unix.NLM_F_CAPPED, seq, slices.Concat(
			errnoPayload(syscall.EPERM), request[:unix.NLMSG_HDRLEN], extackMsg("no")))},
		wantErr: syscall.EPERM,
		wantMsg: "no",
	}, {
		name: "dump fails part way",
		grams: [][]byte{
			nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nh1)),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoPayload(syscall.EMSGSIZE))},
		wantErr: syscall.EMSGSIZE,
	}, {
		name:    "malformed nexthop",
		grams:   [][]byte{nlmsg(nexthop.RTMNewNexthop, unix.NLM_F_MULTI, seq, nhPayload(nexthop.Nexthop{}))},
		wantErr: nexthop.ErrMalformed,
	}, {
		name:     "truncated header",
		grams:    [][]byte{nlmsg(unix.NLMSG_DONE, 0, seq, nil)[:12]},
		errMatch: "truncated",
	}, {
		name:     "message longer than datagram",
		grams:    [][]byte{nlmsg(nexthop.RTMNewNexthop, 0, seq, nhPayload(nh1))[:20]},
		errMatch: "claims",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := nexthopDump{seq: seq}
			var done bool
			var err error
			for i, g := range tt.grams {
				if done {
					t.Fatalf("dump ended before datagram %d", i)
				}
				done, err = d.add(g)
				if err != nil {
					break
				}
			}
			wantFail := tt.wantErr != nil || tt.errMatch != ""
			switch {
			case wantFail && err == nil:
				t.Fatalf("no error, want %v %q", tt.wantErr, tt.errMatch)
			case !wantFail && err != nil:
				t.Fatal(err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.errMatch != "" && !strings.Contains(err.Error(), tt.errMatch):
				t.Fatalf("error %v, want %q in it", err, tt.errMatch)
			}
			if done == tt.notDone {
				t.Errorf("done = %v", done)
			}
			if ne, ok := errors.AsType[*nlError](err); ok {
				if ne.Msg != tt.wantMsg || ne.unsupported() != tt.unsupp {
					t.Errorf("nlError %+v: unsupported %v; want message %q, unsupported %v", ne, ne.unsupported(), tt.wantMsg, tt.unsupp)
				}
			} else if tt.unsupp || tt.wantMsg != "" {
				t.Errorf("error %v is not an nlError", err)
			}
			if err == nil && !reflect.DeepEqual(d.nhs, tt.want) {
				t.Errorf("nexthops\n%v\nwant\n%v", d.nhs, tt.want)
			}
		})
	}
}

// dumpNexthopsIn runs DumpNexthops in ns.
func dumpNexthopsIn(t *testing.T, ns *nstest.NS) []nexthop.Nexthop {
	t.Helper()
	var nhs []nexthop.Nexthop
	err := ns.Do(func() (err error) {
		nhs, err = DumpNexthops()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return nhs
}

// TestDumpNexthopsReadsFDBGroups checks, in a fresh network namespace, that
// DumpNexthops reads what `ip nexthop add` makes: single FDB nexthops of
// both families, weighted and resilient groups.
func TestDumpNexthopsReadsFDBGroups(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "nhd")
	if nhs := dumpNexthopsIn(t, ns); len(nhs) != 0 {
		t.Errorf("empty namespace: DumpNexthops() = %v", nhs)
	}
	for _, args := range [][]string{
		{"id", "1", "via", "10.0.0.2", "fdb"},
		{"id", "2", "via", "10.0.0.3", "proto", "static", "fdb"},
		{"id", "10", "group", "1,3/2", "fdb"},
		{"id", "3", "via", "2001:db8::2", "fdb"},
		{"id", "11", "group", "3", "fdb"},
		{"id", "12", "group", "1/2", "type", "resilient", "buckets", "8", "fdb"},
	} {
		ns.IP(t, append([]string{"nexthop", "add"}, args...)...)
	}
	want := []nexthop.Nexthop{
		{ID: 1, Gateway: netip.MustParseAddr("10.0.0.2"), FDB: true},
		{ID: 2, Gateway: netip.MustParseAddr("10.0.0.3"), FDB: true, Protocol: syscall.RTPROT_STATIC},
		{ID: 3, Gateway: netip.MustParseAddr("2001:db8::2"), FDB: true},
		{ID: 10, FDB: true, Group: []nexthop.Member{{ID: 1, Weight: 3}, {ID: 2, Weight: 1}}},
		{ID: 11, FDB: true, Group: []nexthop.Member{{ID: 3, Weight: 1}}},
		{ID: 12, FDB: true, Resilient: true, NumBuckets: 8, Group: []nexthop.Member{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}},
			Buckets: kernelBuckets(t, ns, 12)},
	}
	if got := dumpNexthopsIn(t, ns); !reflect.DeepEqual(got, want) {
		t.Errorf("DumpNexthops() =\n%s\nwant\n%s", formatNexthops(got), formatNexthops(want))
	}
}

// kernelBuckets returns the bucket table of resilient group id in ns, as
// `ip nexthop bucket show` prints it.
func kernelBuckets(t *testing.T, ns *nstest.NS, id uint32) []uint32 {
	t.Helper()
	var out []struct {
		ID     uint32 `json:"id"`
		Bucket struct {
			Index int    `json:"index"`
			NHID  uint32 `json:"nhid"`
		} `json:"bucket"`
	}
	if err := json.Unmarshal([]byte(ns.IP(t, "-j", "nexthop", "bucket", "show", "id", fmt.Sprint(id))), &out); err != nil {
		t.Fatal(err)
	}
	tab := make([]uint32, len(out))
	for _, b := range out {
		if b.ID != id || b.Bucket.Index >= len(tab) {
			t.Fatalf("ip nexthop bucket show id %d: %+v", id, out)
		}
		tab[b.Bucket.Index] = b.Bucket.NHID
	}
	return tab
}

func formatNexthops(nhs []nexthop.Nexthop) string {
	var b strings.Builder
	for _, nh := range nhs {
		fmt.Fprintf(&b, "\t%+v\n", nh)
	}
	return b.String()
}

func nexthopIDs(nhs []nexthop.Nexthop) []uint32 {
	ids := make([]uint32, len(nhs))
	for i, nh := range nhs {
		ids[i] = nh.ID
	}
	return ids
}

func findNexthop(nhs []nexthop.Nexthop, id uint32) nexthop.Nexthop {
	for _, nh := range nhs {
		if nh.ID == id {
			return nh
		}
	}
	return nexthop.Nexthop{}
}

// startNexthopWatch runs WatchNexthops in ns; the calls of fn arrive on
// the returned channel and the errors on the other.
func startNexthopWatch(t *testing.T, ctx context.Context, ns *nstest.NS) (*dumpWatch[[]nexthop.Nexthop], <-chan []nexthop.Nexthop, <-chan error) {
	t.Helper()
	calls := make(chan []nexthop.Nexthop, 256)
	errs := make(chan error, 16)
	var w *dumpWatch[[]nexthop.Nexthop]
	err := ns.Do(func() (err error) {
		w, err = watchNexthops(ctx, func(nhs []nexthop.Nexthop) {
			select {
			case calls <- nhs:
			case <-ctx.Done():
			}
		}, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, calls, errs
}

// waitWatcherGone waits for the goroutines of WatchNexthops to end.
func waitWatcherGone(t *testing.T) {
	t.Helper()
	nstest.WaitFor(t, 5*time.Second, "the nexthop watcher to end", func() error {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if i := bytes.Index(buf, []byte("kernelnet.(*dumpWatch")); i >= 0 {
			return fmt.Errorf("still running: %s", buf[i:min(i+200, len(buf))])
		}
		return nil
	})
}

func noWatchErrors(t *testing.T, errs <-chan error) {
	t.Helper()
	for {
		select {
		case err := <-errs:
			t.Errorf("onError(%v)", err)
		default:
			return
		}
	}
}

// TestWatchNexthopsSeesAddAndDelete checks, in a fresh network namespace,
// that WatchNexthops reports the nexthops at once and after each change,
// that deleting a member changes its groups (and deletes a group left
// empty), and that the watcher ends with its context.
func TestWatchNexthopsSeesAddAndDelete(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "nhw")
	ns.IP(t, "nexthop", "add", "id", "1", "via", "10.0.0.2", "fdb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, calls, errs := startNexthopWatch(t, ctx, ns)
	select {
	case nhs := <-calls:
		if !slices.Equal(nexthopIDs(nhs), []uint32{1}) || !nhs[0].FDB {
			t.Errorf("first call: %v", nhs)
		}
	default:
		t.Fatal("WatchNexthops returned before the first call of fn")
	}

	ns.IP(t, "nexthop", "add", "id", "2", "via", "10.0.0.3", "fdb")
	ns.IP(t, "nexthop", "add", "id", "10", "group", "1/2,5", "fdb")
	ns.IP(t, "nexthop", "add", "id", "11", "group", "1", "fdb")
	nhs := waitEvent(t, calls, "nexthops 1 2 10 11", func(nhs []nexthop.Nexthop) bool {
		return slices.Equal(nexthopIDs(nhs), []uint32{1, 2, 10, 11})
	})
	if g := findNexthop(nhs, 10).Group; !slices.Equal(g, []nexthop.Member{{ID: 1, Weight: 1}, {ID: 2, Weight: 5}}) {
		t.Errorf("group 10 = %v", g)
	}

	// The kernel deletes the member, takes it out of group 10 and deletes
	// group 11, which it leaves empty.
	ns.IP(t, "nexthop", "del", "id", "1")
	nhs = waitEvent(t, calls, "nexthops 2 10", func(nhs []nexthop.Nexthop) bool {
		return slices.Equal(nexthopIDs(nhs), []uint32{2, 10})
	})
	if g := findNexthop(nhs, 10).Group; !slices.Equal(g, []nexthop.Member{{ID: 2, Weight: 5}}) {
		t.Errorf("group 10 after deleting 1 = %v", g)
	}

	cancel()
	waitWatcherGone(t)
	noWatchErrors(t, errs)
}

// TestWatchNexthopsFollowsBucketTables: a resilient group comes with the
// kernel's bucket table (RTM_GETNEXTHOPBUCKET), and a new one when the
// group changes (nh_res_group_rebalance on replace). The bucket poll does
// not call fn while nothing changes.
func TestWatchNexthopsFollowsBucketTables(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "nhk")
	for i := 1; i <= 3; i++ {
		ns.IP(t, "nexthop", "add", "id", fmt.Sprint(i), "via", fmt.Sprintf("10.0.0.%d", i), "fdb")
	}
	ns.IP(t, "nexthop", "add", "id", "10", "group", "1/2", "type", "resilient", "buckets", "12", "fdb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, calls, errs := startNexthopWatch(t, ctx, ns)
	if got, want := findNexthop(<-calls, 10).Buckets, kernelBuckets(t, ns, 10); !slices.Equal(got, want) {
		t.Errorf("first call: buckets %v, want the kernel's %v", got, want)
	}
	ns.IP(t, "nexthop", "replace", "id", "10", "group", "1/2/3", "type", "resilient", "buckets", "12", "fdb")
	want := kernelBuckets(t, ns, 10)
	if c := slices.Index(want, 3); c < 0 {
		t.Fatalf("the kernel gave member 3 no bucket: %v", want)
	}
	waitEvent(t, calls, fmt.Sprintf("buckets %v", want), func(nhs []nexthop.Nexthop) bool {
		return slices.Equal(findNexthop(nhs, 10).Buckets, want)
	})
	select {
	case nhs := <-calls:
		t.Errorf("fn called with nothing changed: %v", formatNexthops(nhs))
	case <-time.After(2*bucketPoll + bucketPoll/2):
	}
	cancel()
	waitWatcherGone(t)
	noWatchErrors(t, errs)
}

// TestWatchNexthopsConvergesAfterBurst adds and then flushes many nexthops
// at once, which may overflow the subscription's receive buffer, and checks
// that the watcher still ends up with the kernel's list.
func TestWatchNexthopsConvergesAfterBurst(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "nhb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, calls, errs := startNexthopWatch(t, ctx, ns)
	if nhs := <-calls; len(nhs) != 0 {
		t.Errorf("first call: %v", nhs)
	}

	const n = 2000
	var batch strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, "nexthop add id %d via 10.%d.%d.1 fdb\n", i, i>>8, i&0xff)
	}
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.IP(t, "-batch", file)
	count := 0
	waitEvent(t, calls, fmt.Sprintf("%d nexthops", n), func(nhs []nexthop.Nexthop) bool {
		count++
		return len(nhs) == n
	})
	ns.IP(t, "nexthop", "flush")
	waitEvent(t, calls, "no nexthops", func(nhs []nexthop.Nexthop) bool {
		count++
		return len(nhs) == 0
	})
	t.Logf("%d calls of fn for %d additions and a flush", count, n)

	cancel()
	waitWatcherGone(t)
	noWatchErrors(t, errs)
}

// TestWatchNexthopsReopensInItsNamespace breaks the watcher's sockets and
// checks that it reports the error and makes new ones in the namespace it
// was started in, although its goroutine runs outside it.
func TestWatchNexthopsReopensInItsNamespace(t *testing.T) {
	nstest.SkipUnlessRoot(t)
	ns := nstest.NewNS(t, "nhr")
	ns.IP(t, "nexthop", "add", "id", "1", "via", "10.0.0.2", "fdb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, calls, errs := startNexthopWatch(t, ctx, ns)
	if nhs := <-calls; !slices.Equal(nexthopIDs(nhs), []uint32{1}) {
		t.Fatalf("first call: %v", nhs)
	}

	w.closeConns() // what a failing read leads to
	waitEvent(t, errs, "onError", func(error) bool { return true })
	ns.IP(t, "nexthop", "add", "id", "2", "via", "10.0.0.3", "fdb")
	waitEvent(t, calls, "nexthops 1 2", func(nhs []nexthop.Nexthop) bool {
		return slices.Equal(nexthopIDs(nhs), []uint32{1, 2})
	})
	// The new subscription is in the namespace too.
	ns.IP(t, "nexthop", "add", "id", "3", "via", "10.0.0.4", "fdb")
	waitEvent(t, calls, "nexthops 1 2 3", func(nhs []nexthop.Nexthop) bool {
		return slices.Equal(nexthopIDs(nhs), []uint32{1, 2, 3})
	})

	cancel()
	waitWatcherGone(t)
	noWatchErrors(t, errs)
}
