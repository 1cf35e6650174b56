package control

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"

	"github.com/vtepd/vtep/fdb"
	"github.com/vtepd/vtep/header"
)

// MDBOp is a `bridge mdb` verb.
type MDBOp string

// MDB verbs.
const (
	MDBAdd     MDBOp = "add"     // NLM_F_CREATE|NLM_F_EXCL
	MDBReplace MDBOp = "replace" // NLM_F_CREATE|NLM_F_REPLACE
	MDBDel     MDBOp = "del"
)

// MDBRequest is the body of POST /v1/mdb: `bridge mdb { add | replace |
// del } dev DEV port PORT grp GROUP [src SOURCE] [permanent | temp] [vid
// VID] [filter_mode { include | exclude }] [source_list S[,S...]] [proto
// P] dst IP [dst_port PORT] [vni VNI] [src_vni VNI] [via DEV]`.
type MDBRequest struct {
	Op  MDBOp  `json:"op"`
	Dev string `json:"dev"`
	// Port is the MDB port; a vxlan device's entries are its own, so it
	// must name Dev.
	Port  string     `json:"port"`
	Group netip.Addr `json:"grp"`
	// GroupMAC is set instead of Group for an L2 group, which vxlan
	// devices refuse.
	GroupMAC   bool         `json:"grp_mac,omitempty"`
	Source     netip.Addr   `json:"src,omitzero"`
	Permanent  bool         `json:"permanent,omitempty"`
	VID        uint16       `json:"vid,omitempty"`
	FilterMode string       `json:"filter_mode,omitempty"`
	SourceList []netip.Addr `json:"source_list,omitempty"`
	// Proto is the routing protocol number (RTPROT_*); 0 means static.
	Proto   uint8      `json:"proto,omitempty"`
	Dst     netip.Addr `json:"dst,omitzero"`
	DstPort uint16     `json:"dst_port,omitempty"`
	VNI     *uint32    `json:"vni,omitempty"`
	SrcVNI  *uint32    `json:"src_vni,omitempty"`
	Via     string     `json:"via,omitempty"`
}

// MDBFlushRequest is the body of POST /v1/mdb/flush: `bridge mdb flush dev
// DEV [port PORT] [vid VID] [src_vni VNI] [proto P] [[no]permanent] [dst
// IP] [dst_port PORT] [vni VNI]`.
type MDBFlushRequest struct {
	Dev  string `json:"dev"`
	Port string `json:"port,omitempty"`
	VID  uint16 `json:"vid,omitempty"`
	// Permanent is nil without a state filter, else permanent or
	// nopermanent.
	Permanent *bool      `json:"permanent,omitempty"`
	SrcVNI    uint32     `json:"src_vni,omitempty"`
	Proto     uint8      `json:"proto,omitempty"`
	Dst       netip.Addr `json:"dst,omitzero"`
	DstPort   uint16     `json:"dst_port,omitempty"`
	VNI       uint32     `json:"vni,omitempty"`
}

// MDBGet selects the entry `bridge mdb get dev DEV grp GROUP [src SOURCE]
// [src_vni VNI]` prints.
type MDBGet struct {
	Group  netip.Addr
	Source netip.Addr
	SrcVNI *uint32
}

// MDBEntry is one line of `bridge mdb show`: an MDB entry seen through one
// of its remotes, on a link. Entries are permanent and their port is the
// link itself.
type MDBEntry struct {
	// Index is the link's interface index.
	Index  int        `json:"index"`
	Dev    string     `json:"dev"`
	Group  netip.Addr `json:"grp"`
	Source netip.Addr `json:"src,omitzero"`
	// Blocked marks an (S, G) remote a (*, G) EXCLUDE source list made.
	Blocked    bool         `json:"blocked,omitempty"`
	FilterMode string       `json:"filter_mode"`
	SourceList []netip.Addr `json:"source_list,omitempty"`
	Proto      uint8        `json:"proto"`
	Dst        netip.Addr   `json:"dst"`
	// DstPort and VNI are set when they differ from the link's, SrcVNI on
	// external links when it is not 0 (vxlan_mdb_entry_info_fill).
	DstPort uint16  `json:"dst_port,omitempty"`
	VNI     *uint32 `json:"vni,omitempty"`
	SrcVNI  *uint32 `json:"src_vni,omitempty"`
	Ifindex int     `json:"ifindex,omitempty"`
	// Via is the name of interface Ifindex, when known.
	Via string `json:"via,omitempty"`
}

// MDBEntries converts the entries of a link's MDB into dump lines: one
// per remote, entries and remotes newest first. ifname names interfaces
// for Via.
func MDBEntries(index int, dev string, t *fdb.Table, es []fdb.MDBEntry, ifname func(int) string) []MDBEntry {
	var out []MDBEntry
	for _, e := range es {
		for _, r := range e.Remotes {
			m := MDBEntry{
				Index: index, Dev: dev, Group: e.Key.Group, Source: e.Key.Source, Blocked: r.Blocked,
				FilterMode: r.Mode.String(), SourceList: r.Sources, Proto: r.Proto, Dst: r.IP, Ifindex: r.Ifindex,
			}
			if r.Port != 0 && r.Port != t.Port() {
				m.DstPort = r.Port
			}
			if r.VNI != t.VNI() {
				v := uint32(r.VNI)
				m.VNI = &v
			}
			if t.External() && e.Key.SrcVNI != 0 {
				v := uint32(e.Key.SrcVNI)
				m.SrcVNI = &v
			}
			if r.Ifindex != 0 && ifname != nil {
				m.Via = ifname(r.Ifindex)
			}
			out = append(out, m)
		}
	}
	return out
}

// vxlan_mdb_config_init's checks of the br_mdb_entry, which come before
// any lookup.
const (
	msgMDBPort       = "vxlan: Port net device must be the VXLAN net device"
	msgMDBFlushPort  = "vxlan: Invalid port net device"
	msgMDBVID        = "vxlan: VID must not be specified"
	msgMDBGroupFam   = "vxlan: Group address must be an IPv4 / IPv6 address"
	msgMDBUsageNames = "Device, group address and port name are required arguments."
)

// MDBRequestOf converts a wire request into the fdb.MDBRequest the
// kernel's vxlan driver would receive (Ifindex is left for the backend to
// resolve from Via).
func MDBRequestOf(req *MDBRequest) (fdb.MDBRequest, error) {
	switch req.Op {
	case MDBAdd, MDBReplace, MDBDel:
	default:
		return fdb.MDBRequest{}, Usagef("Command %q is unknown, try \"bridge mdb help\".", string(req.Op))
	}
	if req.Dev == "" || req.Port == "" || (!req.Group.IsValid() && !req.GroupMAC) {
		return fdb.MDBRequest{}, Usagef(msgMDBUsageNames)
	}
	if req.Port != req.Dev {
		return fdb.MDBRequest{}, ExtAck(syscall.EINVAL, msgMDBPort)
	}
	if req.Op != MDBDel && !req.Permanent {
		return fdb.MDBRequest{}, ExtAck(syscall.EINVAL, "vxlan: MDB entry must be permanent")
	}
	if req.VID != 0 {
		return fdb.MDBRequest{}, ExtAck(syscall.EINVAL, msgMDBVID)
	}
	if req.GroupMAC {
		return fdb.MDBRequest{}, ExtAck(syscall.EINVAL, msgMDBGroupFam)
	}
	// bridge sends MDBA_SET_ENTRY_ATTRS only with one of these.
	if !req.Source.IsValid() && req.FilterMode == "" && req.SourceList == nil && req.Proto == 0 && !req.Dst.IsValid() &&
		req.DstPort == 0 && req.VNI == nil && req.SrcVNI == nil && req.Via == "" {
		return fdb.MDBRequest{}, ExtAck(syscall.EINVAL, "vxlan: Missing MDBA_SET_ENTRY_ATTRS attribute")
	}
	r := fdb.MDBRequest{
		Group: req.Group.Unmap(), Permanent: req.Permanent && req.Op != MDBDel, Source: req.Source.Unmap(),
		Proto: req.Proto, Dst: req.Dst.Unmap(), Port: req.DstPort,
	}
	switch req.FilterMode {
	case "":
	case "include":
		r.Mode, r.HasMode = fdb.FilterInclude, true
	case "exclude":
		r.Mode, r.HasMode = fdb.FilterExclude, true
	default:
		return fdb.MDBRequest{}, Usagef("Invalid filter mode %q", req.FilterMode)
	}
	for _, s := range req.SourceList {
		r.Sources = append(r.Sources, s.Unmap())
	}
	if req.VNI != nil {
		if *req.VNI > uint32(header.MaxVNI) {
			return fdb.MDBRequest{}, ExtAck(syscall.ERANGE, "integer out of range")
		}
		r.VNI, r.HasVNI = header.VNI(*req.VNI), true
	}
	if req.SrcVNI != nil {
		if *req.SrcVNI > uint32(header.MaxVNI) {
			return fdb.MDBRequest{}, ExtAck(syscall.ERANGE, "integer out of range")
		}
		r.SrcVNI, r.HasSrcVNI = header.VNI(*req.SrcVNI), true
	}
	return r, nil
}

func (h *handler) updateMDB(w http.ResponseWriter, r *http.Request) {
	var req MDBRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	// mdb_modify resolves dev, then port, before it sends anything.
	if df, ok := h.b.(DeviceFinder); ok {
		for _, name := range []string{req.Dev, req.Port} {
			if name != "" && !df.HasDevice(name) {
				h.fail(w, r, ErrNoDevice(name))
				return
			}
		}
	}
	mr, err := MDBRequestOf(&req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.b.UpdateMDB(r.Context(), req.Op, req.Dev, mr, req.Via); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("mdb "+string(req.Op), "link", req.Dev, "grp", req.Group, "src", req.Source, "dst", req.Dst)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) flushMDB(w http.ResponseWriter, r *http.Request) {
	var req MDBFlushRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Dev == "" {
		h.fail(w, r, Usagef("Device is a required argument."))
		return
	}
	if req.Port != "" && req.Port != req.Dev {
		h.fail(w, r, ExtAck(syscall.EINVAL, msgMDBFlushPort))
		return
	}
	if req.VID != 0 {
		h.fail(w, r, ExtAck(syscall.EINVAL, msgMDBVID))
		return
	}
	if req.SrcVNI > uint32(header.MaxVNI) || req.VNI > uint32(header.MaxVNI) {
		h.fail(w, r, ExtAck(syscall.ERANGE, "integer out of range"))
		return
	}
	f := fdb.MDBFlushFilter{
		SrcVNI: header.VNI(req.SrcVNI), Proto: req.Proto, Dst: req.Dst.Unmap(), Port: req.DstPort,
		VNI: header.VNI(req.VNI), NotPermanent: req.Permanent != nil && !*req.Permanent,
	}
	n, err := h.b.FlushMDB(r.Context(), req.Dev, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("mdb flush", "link", req.Dev, "deleted", n)
	writeJSON(w, http.StatusOK, FlushResult{Deleted: n})
}

// showMDB is GET /v1/mdb[?dev=DEV]: the dump; with grp (and src, src_vni)
// it is `bridge mdb get`, which needs dev.
func (h *handler) showMDB(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var get *MDBGet
	if g := q.Get("grp"); g != "" {
		get = &MDBGet{}
		var err error
		if get.Group, err = netip.ParseAddr(g); err != nil {
			h.fail(w, r, Usagef("Invalid address %q", g))
			return
		}
		if s := q.Get("src"); s != "" {
			if get.Source, err = netip.ParseAddr(s); err != nil {
				h.fail(w, r, Usagef("Invalid source address %q", s))
				return
			}
		}
		if s := q.Get("src_vni"); s != "" {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || n > uint64(header.MaxVNI) {
				h.fail(w, r, Usagef("Invalid source VNI %q", s))
				return
			}
			v := uint32(n)
			get.SrcVNI = &v
		}
		if q.Get("dev") == "" {
			h.fail(w, r, Usagef("Device and group address are required arguments."))
			return
		}
	}
	es, err := h.b.MDB(r.Context(), q.Get("dev"), get)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if es == nil {
		es = []MDBEntry{}
	}
	writeJSON(w, http.StatusOK, es)
}

// MDB dumps the MDB of link dev, or of every link if dev is "".
func (c *Client) MDB(ctx context.Context, dev string) ([]MDBEntry, error) {
	var q url.Values
	if dev != "" {
		q = url.Values{"dev": {dev}}
	}
	var es []MDBEntry
	err := c.do(ctx, http.MethodGet, "/v1/mdb", q, nil, &es)
	return es, err
}

// GetMDB returns the remotes of one MDB entry of link dev (`bridge mdb
// get`).
func (c *Client) GetMDB(ctx context.Context, dev string, g MDBGet) ([]MDBEntry, error) {
	q := url.Values{"dev": {dev}, "grp": {g.Group.String()}}
	if g.Source.IsValid() {
		q.Set("src", g.Source.String())
	}
	if g.SrcVNI != nil {
		q.Set("src_vni", strconv.FormatUint(uint64(*g.SrcVNI), 10))
	}
	var es []MDBEntry
	err := c.do(ctx, http.MethodGet, "/v1/mdb", q, nil, &es)
	return es, err
}

// UpdateMDB performs a bridge mdb add, replace or del.
func (c *Client) UpdateMDB(ctx context.Context, req MDBRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/mdb", nil, &req, nil)
}

// FlushMDB performs a bridge mdb flush and returns the number of remotes
// deleted.
func (c *Client) FlushMDB(ctx context.Context, req MDBFlushRequest) (int, error) {
	var res FlushResult
	err := c.do(ctx, http.MethodPost, "/v1/mdb/flush", nil, &req, &res)
	return res.Deleted, err
}
