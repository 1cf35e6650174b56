package fdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vtepd/vtep/header"
)

// model is a deliberately simple FDB: a slice of entries, newest first,
// searched linearly, written straight from the kernel functions it names.
// The differential tests run the same operations on it and on a Table.
type model struct {
	vni       header.VNI
	port      uint16
	external  bool
	maxAddr   int
	ageing    int64
	ifindexOK func(int) bool
	remote    netip.Addr
	remoteIf  int
	// nh gives what vxlan_fdb_nh_update answers for each nexthop ID.
	nh      func(id uint32) mErr
	entries []*mEntry
}

type mEntry struct {
	key           Key
	state         State
	flags         Flags
	remotes       []Remote
	nhid          uint32
	used, updated int64
}

func (m *model) key(mac header.MAC, v header.VNI) Key {
	if !m.external {
		v = m.vni
	}
	return Key{mac, v}
}

func (m *model) find(k Key) int {
	for i, e := range m.entries {
		if e.key == k {
			return i
		}
	}
	return -1
}

func (m *model) removeAt(i int) { m.entries = slices.Delete(m.entries, i, i+1) }

type mErr struct {
	err error
	msg string
}

var mOK = mErr{}

// parse is vxlan_fdb_parse.
func (m *model) parse(r Request) (Remote, header.VNI, mErr) {
	if r.NHID != 0 && (r.Dst.IsValid() || r.HasVNI || r.Ifindex != 0 || r.Port != 0) {
		return Remote{}, 0, mErr{ErrInvalid, msgNHExclusive}
	}
	rm := Remote{IP: netip.IPv4Unspecified(), Port: m.port, VNI: m.vni}
	if r.Dst.IsValid() {
		rm.IP = r.Dst
	}
	if r.Port != 0 {
		rm.Port = r.Port
	}
	if r.HasVNI {
		if r.VNI > header.MaxVNI {
			return Remote{}, 0, mErr{ErrInvalid, "invalid VNI"}
		}
		rm.VNI = r.VNI
	}
	src := m.vni
	if r.HasSrcVNI {
		if r.SrcVNI > header.MaxVNI {
			return Remote{}, 0, mErr{ErrInvalid, "invalid src VNI"}
		}
		src = r.SrcVNI
	}
	if r.Ifindex != 0 {
		if !m.ifindexOK(r.Ifindex) {
			return Remote{}, 0, mErr{ErrNoDevice, msgDeviceNotFound}
		}
		rm.Ifindex = r.Ifindex
	}
	return rm, src, mOK
}

func multicastOrZero(mac header.MAC) bool { return mac[0]&1 != 0 || mac == header.MAC{} }

// update is vxlan_fdb_add + vxlan_fdb_update.
func (m *model) update(op Op, r Request, now int64) mErr {
	if r.State&(StatePermanent|StateReachable) == 0 {
		return mErr{ErrInvalidState, ""}
	}
	if !r.Dst.IsValid() && r.NHID == 0 {
		return mErr{ErrInvalid, ""}
	}
	nr, src, e := m.parse(r)
	if e != mOK {
		return e
	}
	if nr.IP.Is6() {
		return mErr{ErrFamily, ""}
	}
	return m.updateKey(op, r.MAC, src, nr, r.NHID, r.State, r.Flags|FlagAddedByUser, now)
}

func (m *model) updateKey(op Op, mac header.MAC, src header.VNI, nr Remote, nhid uint32, st State, fl Flags, now int64) mErr {
	i := m.find(m.key(mac, src))
	if i < 0 {
		if op&OpCreate == 0 {
			return mErr{ErrNotFound, ""}
		}
		if op&OpReplace != 0 && multicastOrZero(mac) {
			return mErr{ErrNotSupported, ""}
		}
		if m.maxAddr != 0 && len(m.entries) >= m.maxAddr {
			return mErr{ErrNoSpace, ""}
		}
		ne := &mEntry{key: m.key(mac, src), state: st, flags: fl &^ FlagUse, remotes: []Remote{nr}, used: now, updated: now}
		if nhid != 0 {
			if e := m.nh(nhid); e != mOK {
				return e
			}
			ne.remotes, ne.nhid = nil, nhid
		}
		m.entries = append([]*mEntry{ne}, m.entries...)
		return mOK
	}
	if op&OpExcl != 0 {
		return mErr{ErrExist, ""}
	}
	e := m.entries[i]
	if nhid != 0 && e.nhid == 0 {
		return mErr{ErrNotSupported, msgNHOverNonNH}
	}
	if nhid != 0 && op&OpAppend != 0 {
		return mErr{ErrNotSupported, msgNHAppend}
	}
	stored := fl &^ FlagUse
	changed := false
	if stored&FlagExtLearned == 0 || e.flags&FlagAddedByUser == 0 {
		if e.state != st || e.flags != stored {
			e.state, e.flags, changed = st, stored, true
		}
	}
	mc := multicastOrZero(mac)
	if op&OpReplace != 0 {
		if mc {
			return mErr{ErrNotSupported, msgReplaceNonUnicast}
		}
		if nhid != 0 && nhid != e.nhid {
			if err := m.nh(nhid); err != mOK {
				return err
			}
			e.nhid, changed = nhid, true
		}
		if len(e.remotes) > 0 && !slices.Contains(e.remotes, nr) {
			e.remotes = slices.Clone(e.remotes)
			e.remotes[0] = nr
			changed = true
		}
	}
	if op&OpAppend != 0 && mc && e.nhid == 0 && !slices.Contains(e.remotes, nr) {
		e.remotes = append(slices.Clone(e.remotes), nr)
		changed = true
	}
	if fl&FlagUse != 0 || changed {
		e.updated = now
	}
	return mOK
}

// del is vxlan_fdb_delete / __vxlan_fdb_delete.
func (m *model) del(r Request) mErr {
	nr, src, e := m.parse(r)
	if e != mOK {
		return e
	}
	return m.delKey(r.MAC, src, nr)
}

func (m *model) delKey(mac header.MAC, src header.VNI, nr Remote) mErr {
	i := m.find(m.key(mac, src))
	if i < 0 {
		return mErr{ErrNotFound, ""}
	}
	e := m.entries[i]
	if nr.IP.IsUnspecified() {
		m.removeAt(i)
		return mOK
	}
	j := slices.Index(e.remotes, nr)
	switch {
	case j < 0:
	case len(e.remotes) > 1:
		e.remotes = slices.Delete(slices.Clone(e.remotes), j, j+1)
	default:
		m.removeAt(i)
	}
	return mOK
}

// flush is vxlan_fdb_delete_bulk + vxlan_flush.
func (m *model) flush(f FlushFilter, down bool) (int, mErr) {
	fl := f.Flags &^ (FlagSelf | FlagMaster)
	if !down {
		if fl&^(FlagExtLearned|FlagOffloaded|FlagRouter) != 0 {
			return 0, mErr{ErrInvalid, msgFlushFlags}
		}
		if f.State&^(StatePermanent|StateNoARP) != 0 {
			return 0, mErr{ErrInvalid, msgFlushState}
		}
	}
	mask := f.FlagsMask & 0xff
	byRemote := f.VNI != 0 || f.Port != 0 || f.Dst.IsValid()
	n := 0
	var keep []*mEntry
	for _, e := range m.entries {
		match := (f.StateMask == 0 || e.state&f.StateMask == f.State) &&
			(mask == 0 || e.flags&mask == fl) &&
			!(down && e.key.MAC == header.MAC{} && e.key.SrcVNI == m.vni) &&
			(f.SrcVNI == 0 || e.key.SrcVNI == f.SrcVNI) &&
			(f.NHID == 0 || e.nhid == f.NHID)
		if !match {
			keep = append(keep, e)
			continue
		}
		if byRemote {
			var left []Remote
			for _, r := range e.remotes {
				hit := (f.VNI == 0 || r.VNI == f.VNI) && (f.Port == 0 || r.Port == f.Port) &&
					(!f.Dst.IsValid() || r.IP == f.Dst)
				if !hit {
					left = append(left, r)
				}
			}
			if len(left) > 0 || len(e.remotes) == 0 {
				if len(left) != len(e.remotes) {
					e.remotes = left
				}
				keep = append(keep, e)
				continue
			}
		}
		n++
	}
	m.entries = keep
	return n, mOK
}

// learn is vxlan_snoop ([NEW]).
func (m *model) learn(mac header.MAC, v header.VNI, src netip.Addr, ifindex int, now int64) LearnResult {
	if mac[0]&1 != 0 || mac == (header.MAC{}) {
		return LearnInvalidSource
	}
	if !src.Is6() || !(src.IsLinkLocalUnicast() || src.IsLinkLocalMulticast()) {
		ifindex = 0
	}
	i := m.find(m.key(mac, v))
	if i < 0 {
		if m.maxAddr != 0 && len(m.entries) >= m.maxAddr {
			return LearnFull
		}
		ne := &mEntry{key: m.key(mac, v), state: StateReachable, flags: FlagSelf,
			remotes: []Remote{{IP: src, Port: m.port, VNI: m.vni, Ifindex: ifindex}}, used: now, updated: now}
		m.entries = append([]*mEntry{ne}, m.entries...)
		return LearnCreated
	}
	e := m.entries[i]
	e.updated = now
	if e.nhid != 0 {
		return LearnEntryExists
	}
	if e.remotes[0].IP == src && e.remotes[0].Ifindex == ifindex {
		return LearnKnown
	}
	if e.state&(StatePermanent|StateNoARP) != 0 {
		return LearnEntryExists
	}
	e.remotes = slices.Clone(e.remotes)
	e.remotes[0].IP = src
	return LearnMigrated
}

func (m *model) lookup(mac header.MAC, v header.VNI, now int64) *mEntry {
	if i := m.find(m.key(mac, v)); i >= 0 {
		m.entries[i].used = now
		return m.entries[i]
	}
	return nil
}

// sweep is vxlan_cleanup.
func (m *model) sweep(now int64) int {
	n := 0
	var keep []*mEntry
	for _, e := range m.entries {
		if e.state&(StatePermanent|StateNoARP) == 0 && e.flags&FlagExtLearned == 0 && e.updated+m.ageing <= now {
			n++
			continue
		}
		keep = append(keep, e)
	}
	m.entries = keep
	return n
}

// setRemote is the default-entry part of vxlan_changelink.
func (m *model) setRemote(ip netip.Addr, ifindex int, now int64) mErr {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	if ip.Is6() {
		return mErr{ErrNotSupported, msgGroupFamily}
	}
	if ip == m.remote && ifindex == m.remoteIf {
		return mOK
	}
	if !ip.IsUnspecified() {
		r := Remote{IP: ip, Port: m.port, VNI: m.vni, Ifindex: ifindex}
		if e := m.updateKey(OpCreate|OpAppend, header.MAC{}, m.vni, r, 0, StateReachable|StatePermanent, FlagSelf, now); e != mOK {
			return e
		}
	}
	if !m.remote.IsUnspecified() {
		m.delKey(header.MAC{}, m.vni, Remote{IP: m.remote, Port: m.port, VNI: m.vni, Ifindex: m.remoteIf})
	}
	m.remote, m.remoteIf = ip, ifindex
	return mOK
}

// source yields the random choices of an operation sequence: from a PRNG
// for the randomized test, from the input bytes for the fuzz target.
type source interface {
	n(k int) int // in [0, k)
	done() bool
}

type rngSource struct{ r *rand.Rand }

func (s rngSource) n(k int) int { return s.r.IntN(k) }
func (s rngSource) done() bool  { return false }

type byteSource struct{ b []byte }

func (s *byteSource) n(k int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	return v % k
}
func (s *byteSource) done() bool { return len(s.b) == 0 }

var (
	dMACs = []header.MAC{macA, macB, macC, macMC, zero, header.BroadcastMAC}
	dDsts = []netip.Addr{ip1, ip2, ip3, any4, {}, ip6a}
	dVNIs = []header.VNI{devVNI, 7, 0}
)

func pick[T any](s source, xs []T) T { return xs[s.n(len(xs))] }

func genRequest(s source) Request {
	r := Request{MAC: pick(s, dMACs), Dst: pick(s, dDsts)}
	if s.n(4) == 0 {
		r.Port = pick(s, []uint16{devPort, 8472})
	}
	if s.n(4) == 0 {
		r.VNI, r.HasVNI = pick(s, dVNIs), true
		if s.n(30) == 0 {
			r.VNI = header.MaxVNI + 1
		}
	}
	if s.n(4) == 0 {
		r.SrcVNI, r.HasSrcVNI = pick(s, dVNIs), true
	}
	if s.n(6) == 0 {
		r.Ifindex = pick(s, []int{2, 3})
	}
	if s.n(12) == 0 {
		// 5 and 6 are FDB groups, 7 is not a group, 8 does not exist.
		r.NHID = pick(s, []uint32{5, 5, 6, 7, 8})
		if s.n(3) != 0 {
			r.Dst, r.Port, r.HasVNI, r.Ifindex = netip.Addr{}, 0, false, 0
		}
	}
	for _, st := range []State{StatePermanent, StateNoARP, StateReachable, StateStale} {
		if s.n(2) == 0 {
			r.State |= st
		}
	}
	for _, f := range []Flags{FlagSelf, FlagRouter, FlagExtLearned, FlagSticky, FlagUse} {
		if s.n(3) == 0 {
			r.Flags |= f
		}
	}
	return r
}

func genFlush(s source) FlushFilter {
	var f FlushFilter
	for _, st := range []State{StatePermanent, StateNoARP, StateReachable} {
		switch s.n(4) {
		case 0:
			f.State |= st
			f.StateMask |= st
		case 1:
			f.StateMask |= st
		}
	}
	if s.n(6) == 0 {
		f.State |= StateReachable // invalid
	}
	for _, fl := range []Flags{FlagRouter, FlagExtLearned, FlagSticky} {
		switch s.n(5) {
		case 0:
			f.Flags |= fl
			f.FlagsMask |= fl
		case 1:
			f.FlagsMask |= fl
		}
	}
	f.Flags |= FlagSelf
	if s.n(5) == 0 {
		f.SrcVNI = pick(s, dVNIs)
	}
	if s.n(4) == 0 {
		f.VNI = pick(s, dVNIs)
	}
	if s.n(4) == 0 {
		f.Port = pick(s, []uint16{devPort, 8472})
	}
	if s.n(3) == 0 {
		f.Dst = pick(s, dDsts)
	}
	if s.n(6) == 0 {
		f.NHID = pick(s, []uint32{5, 6, 9})
	}
	return f
}

// differential runs the operations s chooses on a Table and on the model
// and fails at the first difference.
func differential(t *testing.T, s source, steps int) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(int64(time.Hour))
	ifindexOK := func(i int) bool { return i == 2 }
	cfg := Config{VNI: devVNI, Port: devPort, Clock: clk.now, IfindexExists: ifindexOK, Nexthops: testNexthops(),
		External:   s.n(2) == 0,
		MaxAddress: uint32(pick(s, []int{0, 0, 2, 4})),
		Ageing:     pick(s, []time.Duration{0, 30 * time.Second}),
	}
	if s.n(2) == 0 {
		cfg.Remote = ip3
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{vni: devVNI, port: devPort, external: cfg.External, maxAddr: int(cfg.MaxAddress),
		ageing: int64(normAgeing(cfg.Ageing)), ifindexOK: ifindexOK, remote: netip.IPv4Unspecified(),
		nh: func(id uint32) mErr {
			switch id {
			case 5, 6:
				return mOK
			case 7:
				return mErr{ErrInvalid, "Nexthop is not a multipath group"}
			}
			return mErr{ErrInvalid, "Nexthop id does not exist"}
		}}
	if e := m.setRemote(cfg.Remote, 0, clk.now()); e != mOK {
		t.Fatalf("model setRemote: %v", e)
	}
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter:\n%s", fmt.Sprintf(format, args...), joinLines(log))
	}
	checkErr := func(what string, got error, want mErr) {
		t.Helper()
		if want.err == nil {
			if got != nil {
				fail("%s: err = %v; model: nil", what, got)
			}
			return
		}
		var oe *OpError
		if !errors.As(got, &oe) || oe.Err != want.err || oe.Msg != want.msg {
			fail("%s: err = %#v; model: %v %q", what, got, want.err, want.msg)
		}
	}
	for step := 0; step < steps && !s.done(); step++ {
		now := clk.now()
		var what string
		switch k := s.n(16); {
		case k < 4:
			op := pick(s, []Op{OpCreate | OpExcl, OpCreate | OpAppend, OpCreate | OpReplace, OpCreate, OpReplace, OpCreate | OpAppend | OpReplace, 0})
			r := genRequest(s)
			what = fmt.Sprintf("Update(%v, %+v)", op, r)
			checkErr(what, tb.Update(op, r), m.update(op, r, now))
		case k < 6:
			r := genRequest(s)
			what = fmt.Sprintf("Delete(%+v)", r)
			checkErr(what, tb.Delete(r), m.del(r))
		case k < 10:
			mac, v := pick(s, dMACs), pick(s, dVNIs)
			src := pick(s, []netip.Addr{ip1, ip2, ll6a, ip6a})
			ifi := pick(s, []int{0, 5})
			what = fmt.Sprintf("Learn(%v, %v, %v, %d)", mac, v, src, ifi)
			if got, want := tb.Learn(mac, v, src, ifi), m.learn(mac, v, src, ifi, now); got != want {
				fail("%s = %v; model %v", what, got, want)
			}
		case k < 12:
			mac, v := pick(s, dMACs), pick(s, dVNIs)
			what = fmt.Sprintf("Lookup(%v, %v)", mac, v)
			got, want := tb.Lookup(mac, v), m.lookup(mac, v, now)
			if (got == nil) != (want == nil) || got != nil && (!slices.Equal(got.Remotes(), want.remotes) || got.NHID() != want.nhid) {
				fail("%s = %v; model %v", what, got, want)
			}
		case k < 13:
			f := genFlush(s)
			what = fmt.Sprintf("Flush(%+v)", f)
			n, err := tb.Flush(f)
			mn, merr := m.flush(f, false)
			checkErr(what, err, merr)
			if n != mn {
				fail("%s destroyed %d; model %d", what, n, mn)
			}
		case k < 14:
			what = "FlushDown"
			n := tb.FlushDown()
			if mn, _ := m.flush(FlushFilter{StateMask: StatePermanent | StateNoARP}, true); n != mn {
				fail("FlushDown destroyed %d; model %d", n, mn)
			}
		case k < 15:
			d := pick(s, []time.Duration{time.Second, 10 * time.Second, 29 * time.Second, 100 * time.Second, 301 * time.Second})
			clk.advance(d)
			tb.Tick()
			what = fmt.Sprintf("advance %v; Sweep", d)
			if got, want := func() int { n, _ := tb.Sweep(clk.now()); return n }(), m.sweep(clk.now()); got != want {
				fail("%s aged %d; model %d", what, got, want)
			}
		default:
			ip := pick(s, []netip.Addr{ip1, ip3, {}, ip6a})
			ifi := pick(s, []int{0, 2})
			what = fmt.Sprintf("SetDefaultRemote(%v, %d)", ip, ifi)
			checkErr(what, tb.SetDefaultRemote(ip, ifi), m.setRemote(ip, ifi, now))
		}
		log = append(log, what)
		compareDump(t, tb, m, fail)
	}
}

func compareDump(t *testing.T, tb *Table, m *model, fail func(string, ...any)) {
	t.Helper()
	i := 0
	for e := range tb.Entries() {
		if i >= len(m.entries) {
			fail("extra entry %v", e.Key())
		}
		me := m.entries[i]
		if e.Key() != me.key || e.State() != me.state || e.Flags() != me.flags ||
			!slices.Equal(e.Remotes(), me.remotes) || e.NHID() != me.nhid || e.Used() != me.used || e.Updated() != me.updated {
			fail("entry %d: table {%v %#x %v %v nhid %d used %d upd %d}\nmodel {%v %#x %v %v nhid %d used %d upd %d}", i,
				e.Key(), uint16(e.State()), e.Flags(), e.Remotes(), e.NHID(), e.Used(), e.Updated(),
				me.key, uint16(me.state), me.flags, me.remotes, me.nhid, me.used, me.updated)
		}
		i++
	}
	if i != len(m.entries) || tb.Len() != len(m.entries) {
		fail("table has %d entries (Len %d); model %d", i, tb.Len(), len(m.entries))
	}
}

func joinLines(ls []string) string {
	if len(ls) > 30 {
		ls = ls[len(ls)-30:]
	}
	out := ""
	for _, l := range ls {
		out += "  " + l + "\n"
	}
	return out
}

// TestRandomizedAgainstModel compares a Table with the linear-scan model
// over random sequences of every operation (wireguard-go
// allowedips_rand_test.go style).
func TestRandomizedAgainstModel(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			differential(t, rngSource{rand.New(rand.NewPCG(uint64(seed), 0x5eed))}, 400)
		})
	}
}

// FuzzTableAgainstModel lets the fuzzer choose the operation sequence.
func FuzzTableAgainstModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x00\x01\x00\x04\x02\x01\x00\x00\x00\x00\x00\x00\x05\x06\x07\x08\x09\x0a"))
	rng := rand.New(rand.NewPCG(7, 7))
	for range 8 {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		differential(t, &byteSource{b: b}, 1<<20)
	})
}
