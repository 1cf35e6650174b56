package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vtepd/vtep/header"
)

// MarshalJSON encodes l in the shape of one element of
// `ip -d -j link show`: {"ifname", "mtu", "address", "linkinfo":
// {"info_kind": "vxlan", "info_data": {...}}}, where info_data is
// [Link.InfoData]. ifname, mtu and address are left out when unset.
// Device names that are not UTF-8 (the kernel allows any bytes but '/',
// ':' and white space) cannot be represented exactly; their invalid bytes
// become U+FFFD, as with encoding/json.
func (l Link) MarshalJSON() ([]byte, error) {
	c := l.Canonical()
	b := make([]byte, 0, 512)
	b = append(b, '{')
	if c.Name != "" {
		b = appendKey(b, "ifname")
		b = appendString(b, c.Name)
	}
	if c.MTU != 0 {
		b = appendKey(b, "mtu")
		b = strconv.AppendInt(b, int64(c.MTU), 10)
	}
	if !c.Address.IsZero() {
		b = appendKey(b, "address")
		b = appendString(b, c.Address.String())
	}
	b = appendKey(b, "linkinfo")
	b = append(b, `{"info_kind":"vxlan","info_data":`...)
	b = c.appendInfoData(b)
	b = append(b, "}}"...)
	return b, nil
}

// InfoData returns the linkinfo.info_data object of `ip -d -j link show`
// for the device, with the keys and value formats of iproute2 6.4 and
// later on a kernel that reports reserved bits: "id", "remote"/"group"
// (IPv4) or "remote6"/"group6", "local"/"local6", "link",
// "port_range": {"low", "high"}, "port", "tos" (hex string), "ttl"
// (absent for ttl inherit), "df", "label" (hex string), "ageing",
// "limit", "reserved_bits" (hex string), "gbp" and "gpe" (null), and the
// flags as booleans: "external", "vnifilter", "learning", "proxy", "rsc",
// "l2miss", "l3miss", "udp_csum", "udp_zero_csum6_tx",
// "udp_zero_csum6_rx", "remcsum_tx", "remcsum_rx", "localbypass".
//
// Four keys are vtep's, for what iproute2 does not print: "label_policy":
// "inherit", "mcroute": true, "gbp_mark" (hex string, as iproute2 prints
// marks, e.g. "0x800ff"; only when set), and "remote"/"local" with an
// unspecified address (which only selects the family).
func (l Link) InfoData() []byte {
	return l.Canonical().appendInfoData(make([]byte, 0, 512))
}

func (l Link) appendInfoData(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, "id")
	b = strconv.AppendUint(b, uint64(l.VNI), 10)
	if l.Remote.IsValid() {
		key := "remote"
		if isMulticast(l.Remote) {
			key = "group"
		}
		if l.Remote.Is6() {
			key += "6"
		}
		b = appendKey(b, key)
		b = appendString(b, formatAddr(l.Remote))
	}
	if l.Local.IsValid() {
		key := "local"
		if l.Local.Is6() {
			key += "6"
		}
		b = appendKey(b, key)
		b = appendString(b, formatAddr(l.Local))
	}
	if l.Dev != "" {
		b = appendKey(b, "link")
		b = appendString(b, l.Dev)
	}
	b = appendKey(b, "port_range")
	b = append(b, `{"low":`...)
	b = strconv.AppendUint(b, uint64(l.SrcPortMin), 10)
	b = append(b, `,"high":`...)
	b = strconv.AppendUint(b, uint64(l.SrcPortMax), 10)
	b = append(b, '}')
	b = appendKey(b, "port")
	b = strconv.AppendUint(b, uint64(l.Port()), 10)
	if l.TOS != 0 {
		b = appendKey(b, "tos")
		b = appendString(b, cHexShort(uint64(l.TOS)))
	}
	if !l.TTLInherit {
		b = appendKey(b, "ttl")
		b = strconv.AppendUint(b, uint64(l.TTL), 10)
	}
	b = appendKey(b, "df")
	b = appendString(b, l.DF.String())
	if l.FlowLabel != 0 {
		b = appendKey(b, "label")
		b = appendString(b, cHexShort(uint64(l.FlowLabel)))
	}
	if l.LabelPolicy != LabelFixed {
		b = appendKey(b, "label_policy")
		b = appendString(b, l.LabelPolicy.String())
	}
	b = appendKey(b, "ageing")
	b = strconv.AppendInt(b, int64(l.AgeingTime()/time.Second), 10)
	if l.MaxAddress != 0 {
		b = appendKey(b, "limit")
		b = strconv.AppendUint(b, uint64(l.MaxAddress), 10)
	}
	b = appendKey(b, "reserved_bits")
	b = appendString(b, cHexShort(l.EffectiveReservedBits()))
	if l.GBP {
		b = appendKey(b, "gbp")
		b = append(b, "null"...)
	}
	if l.GBPMark != 0 {
		b = appendKey(b, "gbp_mark")
		b = appendString(b, cHexShort(uint64(l.GBPMark)))
	}
	if l.GPE {
		b = appendKey(b, "gpe")
		b = append(b, "null"...)
	}
	for _, o := range l.boolOpts() {
		if o.present {
			b = appendKey(b, o.key)
			b = strconv.AppendBool(b, o.value)
		}
	}
	return append(b, '}')
}

func appendKey(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = appendString(b, key)
	return append(b, ':')
}

// appendString appends s as a JSON string. Like encoding/json, it writes
// bytes that are not UTF-8 as U+FFFD; unlike it, it does not escape <, >
// and &, as iproute2 does not.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// UnmarshalJSON decodes the shape MarshalJSON writes, which is also one
// element of the array `ip -d -j link show` prints: keys other than
// ifname, mtu, address and linkinfo are ignored, so real output can be
// fed in (its mtu and address are then those of the device). The
// info_data object is decoded as by [ParseInfoData].
func (l *Link) UnmarshalJSON(b []byte) error {
	var outer struct {
		IfName   *string         `json:"ifname"`
		MTU      *int            `json:"mtu"`
		Address  *string         `json:"address"`
		LinkInfo json.RawMessage `json:"linkinfo"`
	}
	if err := json.Unmarshal(b, &outer); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if outer.LinkInfo == nil {
		return errors.New(`config: no "linkinfo" object`)
	}
	var li struct {
		Kind *string         `json:"info_kind"`
		Data json.RawMessage `json:"info_data"`
	}
	if err := json.Unmarshal(outer.LinkInfo, &li); err != nil {
		return fmt.Errorf("config: linkinfo: %w", err)
	}
	if li.Kind != nil && *li.Kind != "vxlan" {
		return fmt.Errorf("config: linkinfo: info_kind %q is not vxlan", *li.Kind)
	}
	n, err := decodeInfoData(li.Data)
	if err != nil {
		return err
	}
	if outer.IfName != nil {
		n.Name = *outer.IfName
	}
	if outer.MTU != nil {
		n.MTU = *outer.MTU
	}
	if outer.Address != nil {
		m, err := header.ParseMAC(*outer.Address)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		n.Address = m
	}
	n = n.Canonical()
	if err := n.Validate(); err != nil {
		return err
	}
	*l = n
	return nil
}

// ParseInfoData decodes a linkinfo.info_data object as iproute2 prints it,
// either release (6.1 leaves out false flags, localbypass and
// reserved_bits, and prints gbp/gpe as true rather than null). Missing
// flags take their defaults; a missing "ttl" means ttl inherit, as
// iproute2 prints no ttl then; reserved_bits equal to the default are
// not kept as set. Unknown keys are ignored. The result is canonical and
// valid.
func ParseInfoData(b []byte) (Link, error) {
	l, err := decodeInfoData(b)
	if err != nil {
		return Link{}, err
	}
	l = l.Canonical()
	if err := l.Validate(); err != nil {
		return Link{}, err
	}
	return l, nil
}

func decodeInfoData(b []byte) (Link, error) {
	var l Link
	if b == nil || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return l, errors.New(`config: no "info_data" object`)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return l, fmt.Errorf("config: info_data: %w", err)
	}
	d := infoDecoder{m: m}
	if v, ok := d.uint("id", 32); ok {
		l.VNI = header.VNI(v)
	}
	for _, k := range [...]struct {
		key   string
		v6    bool
		group bool
	}{{"remote", false, false}, {"group", false, true}, {"remote6", true, false}, {"group6", true, true}} {
		if a, ok := d.addr(k.key, k.v6); ok {
			if l.Remote.IsValid() {
				d.fail(k.key, ErrGroupAndRemote)
			}
			if k.group != isMulticast(a) {
				d.fail(k.key, fmt.Errorf("%s is not a %s address", a, k.key))
			}
			l.Remote = a
		}
	}
	if a, ok := d.addr("local", false); ok {
		l.Local = a
	}
	if a, ok := d.addr("local6", true); ok {
		if l.Local.IsValid() {
			d.fail("local6", errors.New("both local and local6"))
		}
		l.Local = a
	}
	if s, ok := d.string("link"); ok {
		l.Dev = s
	}
	if raw, ok := m["port_range"]; ok {
		var pr struct{ Low, High *uint16 }
		if err := json.Unmarshal(raw, &pr); err != nil || pr.Low == nil || pr.High == nil {
			d.fail("port_range", errors.New(`want {"low": N, "high": N}`))
		} else {
			l.SrcPortMin, l.SrcPortMax = *pr.Low, *pr.High
		}
	}
	if v, ok := d.uint("port", 16); ok {
		l.DstPort = uint16(v)
	}
	if v, ok := d.hex("tos", 8); ok {
		l.TOS = uint8(v)
	}
	if v, ok := d.uint("ttl", 8); ok {
		l.TTL = uint8(v)
	} else if d.err == nil {
		l.TTLInherit = true
	}
	if s, ok := d.string("df"); ok {
		switch s {
		case "unset":
			l.DF = DFUnset
		case "set":
			l.DF = DFSet
		case "inherit":
			l.DF = DFInherit
		default:
			d.fail("df", ErrDF)
		}
	}
	if v, ok := d.hex("label", 32); ok {
		l.FlowLabel = uint32(v)
	}
	if s, ok := d.string("label_policy"); ok {
		switch s {
		case "fixed":
			l.LabelPolicy = LabelFixed
		case "inherit":
			l.LabelPolicy = LabelInherit
		default:
			d.fail("label_policy", ErrLabelPolicy)
		}
	}
	if v, ok := d.uint("ageing", 32); ok {
		l.Ageing = time.Duration(v) * time.Second
	}
	if v, ok := d.uint("limit", 32); ok {
		l.MaxAddress = uint32(v)
	}
	if v, ok := d.hex("reserved_bits", 64); ok {
		l.ReservedBits, l.ReservedBitsSet = v, true
	}
	l.GBP = d.present("gbp")
	if v, ok := d.hex("gbp_mark", 32); ok {
		l.GBPMark = uint32(v)
	}
	l.GPE = d.present("gpe")
	set := func(key string, dst *bool, inverted bool) {
		if v, ok := d.bool(key); ok {
			*dst = v != inverted
		}
	}
	set("external", &l.External, false)
	set("vnifilter", &l.VNIFilter, false)
	set("learning", &l.NoLearning, true)
	set("proxy", &l.Proxy, false)
	set("rsc", &l.RSC, false)
	set("l2miss", &l.L2Miss, false)
	set("l3miss", &l.L3Miss, false)
	set("udp_csum", &l.NoUDPCsum, true)
	set("udp_zero_csum6_tx", &l.UDP6ZeroCsumTX, false)
	set("udp_zero_csum6_rx", &l.UDP6ZeroCsumRX, false)
	set("remcsum_tx", &l.RemCsumTX, false)
	set("remcsum_rx", &l.RemCsumRX, false)
	set("localbypass", &l.NoLocalBypass, true)
	set("mcroute", &l.MCRoute, false)
	if d.err != nil {
		return Link{}, d.err
	}
	return l, nil
}

// infoDecoder reads typed values from an info_data object; the first error
// sticks.
type infoDecoder struct {
	m   map[string]json.RawMessage
	err error
}

func (d *infoDecoder) fail(key string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("config: info_data: %q: %w", key, err)
	}
}

func (d *infoDecoder) uint(key string, bits int) (uint64, bool) {
	raw, ok := d.m[key]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw), 10, bits)
	if err != nil {
		d.fail(key, err)
		return 0, false
	}
	return v, true
}

func (d *infoDecoder) string(key string) (string, bool) {
	raw, ok := d.m[key]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.fail(key, err)
		return "", false
	}
	return s, true
}

// hex reads iproute2's print_0xhex: a string "0x…" (or "0"); a JSON number
// is accepted too.
func (d *infoDecoder) hex(key string, bits int) (uint64, bool) {
	raw, ok := d.m[key]
	if !ok {
		return 0, false
	}
	if len(raw) > 0 && raw[0] != '"' {
		return d.uint(key, bits)
	}
	s, _ := d.string(key)
	v, ok := parseCUint(s, 0, bits)
	if !ok {
		d.fail(key, fmt.Errorf("invalid number %q", s))
	}
	return v, ok
}

func (d *infoDecoder) bool(key string) (bool, bool) {
	raw, ok := d.m[key]
	if !ok {
		return false, false
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		d.fail(key, err)
		return false, false
	}
	return v, true
}

// present reads a flag printed as null (iproute2 6.4+) or true (6.1).
func (d *infoDecoder) present(key string) bool {
	raw, ok := d.m[key]
	if !ok || string(raw) == "null" {
		return ok
	}
	v, _ := d.bool(key)
	return v
}

func (d *infoDecoder) addr(key string, v6 bool) (netip.Addr, bool) {
	s, ok := d.string(key)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		d.fail(key, fmt.Errorf("invalid address %q", s))
		return netip.Addr{}, false
	}
	return a, true
}
