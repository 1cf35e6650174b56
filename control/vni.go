package control

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"

	"github.com/vtepd/vtep/config"
	"github.com/vtepd/vtep/header"
)

// VNIOp is a `bridge vni` verb.
type VNIOp string

// VNI filter verbs (RTM_NEWTUNNEL, RTM_DELTUNNEL).
const (
	VNIAdd VNIOp = "add"
	VNIDel VNIOp = "del"
)

// MaxVNIRange is the most VNIs one add or del may name. The kernel has no
// such bound; vtepd has one so that a mistyped range cannot hold the
// daemon for minutes while it builds millions of filter entries.
const MaxVNIRange = 4096

// VNIRequest is the body of POST /v1/vni: `bridge vni { add | del } dev
// DEV vni VNI[-VNI] [ { group | remote } IP ]`, for a link created with
// vnifilter.
type VNIRequest struct {
	Op  VNIOp  `json:"op"`
	Dev string `json:"dev"`
	// VNI is the first VNI; VNIEnd, when not 0, the last of a range.
	VNI    uint32 `json:"vni"`
	VNIEnd uint32 `json:"vniEnd,omitempty"`
	// Group is a multicast group and Remote a unicast remote: the VNI's
	// default destination (the all-zeros FDB entry of that source VNI).
	// At most one is set; del ignores both.
	Group  netip.Addr `json:"group,omitzero"`
	Remote netip.Addr `json:"remote,omitzero"`
}

// VNIStats are one VNI's counters, with `bridge -j -s vni show`'s names
// (VNIFILTER_ENTRY_STATS_*).
type VNIStats struct {
	RXBytes  uint64 `json:"rx_bytes"`
	RXPkts   uint64 `json:"rx_pkts"`
	RXDrops  uint64 `json:"rx_drops"`
	RXErrors uint64 `json:"rx_errors"`
	TXBytes  uint64 `json:"tx_bytes"`
	TXPkts   uint64 `json:"tx_pkts"`
	TXDrops  uint64 `json:"tx_drops"`
	TXErrors uint64 `json:"tx_errors"`
}

// VNIEntry is one VNI of a link's filter.
type VNIEntry struct {
	VNI uint32 `json:"vni"`
	// Remote is the VNI's group (multicast) or remote (unicast), or the
	// zero Addr.
	Remote netip.Addr `json:"remote,omitzero"`
	// Stats is set when the dump asked for counters.
	Stats *VNIStats `json:"stats,omitempty"`
}

// VNIFilter is the VNI filter of one vnifilter link, as GET /v1/vni
// returns it: every VNI on its own, in increasing order. (The kernel's
// dump folds runs of VNIs with the same remote into ranges; the CLI does
// that when it prints.)
type VNIFilter struct {
	// Index is the link's interface index.
	Index  int        `json:"index"`
	Ifname string     `json:"ifname"`
	VNIs   []VNIEntry `json:"vnis"`
}

// ErrNoVNIFilter returns the refusal of a `bridge vni` request for link
// dev, which was not created with vnifilter (the kernel's EOPNOTSUPP from
// vxlan_vnifilter_process), in words that say what to do.
func ErrNoVNIFilter(dev string) *Error {
	return ExtAck(syscall.EOPNOTSUPP, fmt.Sprintf(
		"%s has no VNI filter; bridge vni needs a link created with \"external vnifilter\"", dev))
}

// VNIRange checks a request against everything that does not depend on
// the link, and returns its VNIs and its group or remote.
func VNIRange(req *VNIRequest) (first, last header.VNI, remote netip.Addr, err error) {
	switch req.Op {
	case VNIAdd, VNIDel:
	default:
		return 0, 0, remote, Usagef("Command %q is unknown, try \"bridge vni help\".", string(req.Op))
	}
	if req.Dev == "" {
		return 0, 0, remote, Usagef("Device and VNI ID are required arguments.")
	}
	end := req.VNIEnd
	if end == 0 {
		end = req.VNI
	}
	for _, v := range []uint32{req.VNI, end} {
		if v > uint32(header.MaxVNI) {
			return 0, 0, remote, ExtAck(syscall.ERANGE, fmt.Sprintf("VNI %d is out of range; a VNI must be lower than 16777216", v))
		}
	}
	if req.VNI == 0 && end == 0 {
		// vxlan_process_vni_filter refuses an entry without start and end.
		return 0, 0, remote, ExtAck(syscall.EINVAL, "VNI 0 is not a VNI the filter can hold; give a VNI from 1 to 16777215")
	}
	if end < req.VNI {
		return 0, 0, remote, ExtAck(syscall.EINVAL, fmt.Sprintf("VNI range %d-%d is empty; write the lower VNI first", req.VNI, end))
	}
	if end-req.VNI >= MaxVNIRange {
		return 0, 0, remote, ExtAck(syscall.E2BIG, fmt.Sprintf("VNI range %d-%d holds %d VNIs; vtepd takes at most %d in one command, split it",
			req.VNI, end, end-req.VNI+1, MaxVNIRange))
	}
	if req.Op == VNIAdd {
		switch {
		case req.Group.IsValid() && req.Remote.IsValid():
			return 0, 0, remote, Usagef("Error: duplicate \"destination\": %q is the second value.", req.Remote.String())
		case req.Group.IsValid():
			remote = req.Group.Unmap()
			if !remote.IsMulticast() {
				return 0, 0, netip.Addr{}, Usagef("Error: argument %q is wrong: invalid group address, a group must be multicast (use \"remote\" for a unicast address)", req.Group.String())
			}
		case req.Remote.IsValid():
			remote = req.Remote.Unmap()
			if remote.IsMulticast() || remote.IsUnspecified() {
				return 0, 0, netip.Addr{}, Usagef("Error: argument %q is wrong: invalid remote address, a remote must be unicast (use \"group\" for a multicast address)", req.Remote.String())
			}
		}
	}
	return header.VNI(req.VNI), header.VNI(end), remote, nil
}

// CheckVNIUpdate is what a Backend checks before it changes the VNI filter
// of link dev, whose configuration is cfg, so that a refused request
// changes nothing: the link has vnifilter, a group or remote is of the
// link's family and a group has a lower device to join it on, a del names
// only VNIs in the filter. An add may change the group or remote of a VNI
// already there, as the kernel's does. lookup returns the group or remote
// of a VNI in the filter, and whether it is there.
func CheckVNIUpdate(dev string, cfg config.Link, op VNIOp, first, last header.VNI, remote netip.Addr, lookup func(header.VNI) (netip.Addr, bool)) error {
	if !cfg.VNIFilter {
		return ErrNoVNIFilter(dev)
	}
	if op == VNIAdd && remote.IsValid() {
		if remote.Is6() != cfg.IsIPv6() {
			fam := "IPv4"
			if cfg.IsIPv6() {
				fam = "IPv6"
			}
			return ExtAck(syscall.EAFNOSUPPORT, fmt.Sprintf("%s is not an address of %s's family; it takes %s groups and remotes", remote, dev, fam))
		}
		if remote.IsMulticast() && cfg.Dev == "" {
			return ExtAck(syscall.EINVAL, "Local interface required for multicast remote group; set the link's \"dev\"")
		}
	}
	if op != VNIDel {
		return nil
	}
	for v := first; ; v++ {
		if _, ok := lookup(v); !ok {
			return ExtAck(syscall.ENOENT, fmt.Sprintf("VNI %d is not in the VNI filter of %s; \"vtep vni show dev %s\" lists it", v, dev, dev))
		}
		if v == last {
			return nil
		}
	}
}

func (h *handler) updateVNI(w http.ResponseWriter, r *http.Request) {
	var req VNIRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	first, last, remote, err := VNIRange(&req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// vni_modify resolves the device after it parsed the command.
	if df, ok := h.b.(DeviceFinder); ok && !df.HasDevice(req.Dev) {
		h.fail(w, r, Errorf(syscall.ENODEV, "Cannot find vxlan device %q", req.Dev))
		return
	}
	if err := h.b.UpdateVNI(r.Context(), req.Op, req.Dev, first, last, remote); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("vni "+string(req.Op), "link", req.Dev, "vni", uint32(first), "vniEnd", uint32(last), "remote", remote)
	w.WriteHeader(http.StatusNoContent)
}

// showVNI is GET /v1/vni[?dev=DEV][&stats=1]: `bridge [-s] vni show`.
func (h *handler) showVNI(w http.ResponseWriter, r *http.Request) {
	fs, err := h.b.VNIFilters(r.Context(), r.URL.Query().Get("dev"), flag(r, "stats"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if fs == nil {
		fs = []VNIFilter{}
	}
	writeJSON(w, http.StatusOK, fs)
}

// VNIFilters returns the VNI filter of link dev, or of every vnifilter
// link if dev is ""; stats adds each VNI's counters.
func (c *Client) VNIFilters(ctx context.Context, dev string, stats bool) ([]VNIFilter, error) {
	q := url.Values{}
	if dev != "" {
		q.Set("dev", dev)
	}
	if stats {
		q.Set("stats", "1")
	}
	var fs []VNIFilter
	err := c.do(ctx, http.MethodGet, "/v1/vni", q, nil, &fs)
	return fs, err
}

// UpdateVNI performs a bridge vni add or del.
func (c *Client) UpdateVNI(ctx context.Context, req VNIRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/vni", nil, &req, nil)
}
