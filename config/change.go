package config

import "net/netip"

// Change applies `ip link set NAME type vxlan ARGS` to the device l and
// returns the new configuration. The words are parsed as [ParseArgs] does,
// with iproute2's set semantics (no id is required; learning, dstport 0
// and srcport 0 0 are not sent unless given), and then the kernel's
// changelink rules apply, in vxlan_nl2conf's order:
//
//   - may change: remote or group and local (within the device's address
//     family), dev, ttl (a number or auto), tos, df, flowlabel, learning,
//     ageing, localbypass, mcroute; and vtep's mtu and address extensions,
//     which act as `ip link set NAME mtu MTU address LLADDR`, and its
//     gbpmark extension (on a gbp device; "gbpmark 0" removes the mark);
//   - refused even when the value is unchanged: ttl inherit, [no]proxy,
//     [no]rsc, [no]l2miss, [no]l3miss, maxaddress, [no]external, srcport,
//     dstport, [no]udpcsum, [no]udp6zerocsumtx/rx, [no]remcsumtx/rx, gbp,
//     gpe, reserved_bits, [no]vnifilter;
//   - id is refused unless it is the current VNI.
//
// Kernel quirks are kept: "ttl 64" on a "ttl inherit" device leaves it
// inheriting, and "ageing 0" means 300 seconds. The result is canonical and
// valid. On error Change returns l unchanged; the error matches
// [ErrCannotChange] for a refused attribute.
func (l Link) Change(args []string) (Link, error) {
	r, err := parse(args, true)
	if err != nil {
		return l, err
	}
	n, err := l.Canonical().apply(&r)
	if err != nil {
		return l, err
	}
	return n, nil
}

// CanChange reports whether the kernel lets an existing device with
// configuration old be changed in place into new, or whether it has to be
// deleted and created again. It applies the rules of [Link.Change] to the
// attributes whose values differ, and then validates new. Name is not
// compared; MTU and Address may change.
func CanChange(old, new Link) error {
	o, n := old.Canonical(), new.Canonical()
	r := request{l: n, learning: !n.NoLearning, metadata: n.External}
	s := &r.sent
	diff := func(differ bool, a attr) {
		if differ {
			*s |= a
		}
	}
	diff(o.VNI != n.VNI, aID)
	if addrKey(o.Remote) != addrKey(n.Remote) || n.Remote.IsValid() && n.Remote.Is6() != o.IsIPv6() {
		*s |= aGroup
		if !n.Remote.IsValid() {
			r.l.Remote = unspecified(o.IsIPv6())
		}
	}
	if addrKey(o.Local) != addrKey(n.Local) || n.Local.IsValid() && n.Local.Is6() != o.IsIPv6() {
		*s |= aLocal
		if !n.Local.IsValid() {
			r.l.Local = unspecified(o.IsIPv6())
		}
	}
	diff(o.Dev != n.Dev, aLink)
	diff(o.TOS != n.TOS, aTOS)
	diff(o.TTL != n.TTL, aTTL)
	diff(o.TTLInherit != n.TTLInherit, aTTLInherit)
	diff(o.FlowLabel != n.FlowLabel, aLabel)
	diff(o.LabelPolicy != n.LabelPolicy, aLabelPolicy)
	diff(o.NoLearning != n.NoLearning, aLearning)
	diff(o.Ageing != n.Ageing, aAgeing)
	diff(o.Proxy != n.Proxy, aProxy)
	diff(o.RSC != n.RSC, aRSC)
	diff(o.L2Miss != n.L2Miss, aL2Miss)
	diff(o.L3Miss != n.L3Miss, aL3Miss)
	diff(o.MaxAddress != n.MaxAddress, aLimit)
	diff(o.External != n.External, aExternal)
	diff(o.SrcPortMin != n.SrcPortMin || o.SrcPortMax != n.SrcPortMax, aPortRange)
	diff(o.DstPort != n.DstPort, aPort)
	diff(o.NoUDPCsum != n.NoUDPCsum, aUDPCsum)
	diff(o.NoLocalBypass != n.NoLocalBypass, aLocalBypass)
	diff(o.UDP6ZeroCsumTX != n.UDP6ZeroCsumTX, aUDP6TX)
	diff(o.UDP6ZeroCsumRX != n.UDP6ZeroCsumRX, aUDP6RX)
	diff(o.RemCsumTX != n.RemCsumTX, aRemTX)
	diff(o.RemCsumRX != n.RemCsumRX, aRemRX)
	diff(o.GBP != n.GBP, aGBP)
	diff(o.GPE != n.GPE, aGPE)
	diff(o.GBPMark != n.GBPMark, aGBPMark)
	diff(o.ReservedBitsSet != n.ReservedBitsSet || o.ReservedBits != n.ReservedBits, aReservedBits)
	diff(o.MCRoute != n.MCRoute, aMCRoute)
	diff(o.MTU != n.MTU, aMTU)
	diff(o.DF != n.DF, aDF)
	diff(o.VNIFilter != n.VNIFilter, aVNIFilter)
	diff(o.Address != n.Address, aAddress)
	_, err := o.apply(&r)
	return err
}

// addrKey makes "none" and "unspecified" compare equal.
func addrKey(a netip.Addr) netip.Addr {
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func unspecified(v6 bool) netip.Addr {
	if v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// apply is vxlan_validate, vxlan_nl2conf with changelink set and
// vxlan_config_validate, for the request r on the canonical device l. On
// error it returns l.
func (l Link) apply(r *request) (Link, error) {
	c, s, v := l, r.sent, &r.l

	// vxlan_validate (and dev_validate_mtu for vtep's mtu extension).
	if s&aAddress != 0 && !v.Address.IsValidUnicast() {
		return c, ErrAddressNotUnicast
	}
	if s&aMTU != 0 && (v.MTU < MinMTU || v.MTU > MaxMTU) {
		return c, ErrMTURange
	}
	if s&aPortRange != 0 && v.SrcPortMax < v.SrcPortMin {
		return c, ErrSrcPortRange
	}

	// vxlan_nl2conf, changelink.
	n := c
	if s&aID != 0 && v.VNI != c.VNI {
		return c, ErrChangeVNI
	}
	if s&aGroup != 0 {
		if v.Remote.Is6() != c.IsIPv6() {
			return c, ErrChangeGroupFamily
		}
		n.Remote = v.Remote
	}
	if s&aLocal != 0 {
		if v.Local.Is6() != c.IsIPv6() {
			return c, ErrChangeLocalFamily
		}
		n.Local = v.Local
	}
	if s&aLink != 0 {
		n.Dev = v.Dev
	}
	if s&aTOS != 0 {
		n.TOS = v.TOS
	}
	if s&aTTL != 0 {
		n.TTL = v.TTL
	}
	if s&aTTLInherit != 0 {
		return c, &FlagChangeError{Flag: "TTL_INHERIT"}
	}
	if s&aLabel != 0 {
		n.FlowLabel = v.FlowLabel
	}
	if s&aLabelPolicy != 0 {
		n.LabelPolicy = v.LabelPolicy
	}
	if s&aLearning != 0 {
		n.NoLearning = !r.learning
	}
	if s&aAgeing != 0 {
		n.Ageing = v.Ageing
	}
	for _, f := range [...]struct {
		a    attr
		name string
	}{{aProxy, "PROXY"}, {aRSC, "RSC"}, {aL2Miss, "L2MISS"}, {aL3Miss, "L3MISS"}} {
		if s&f.a != 0 {
			return c, &FlagChangeError{Flag: f.name}
		}
	}
	if s&aLimit != 0 {
		return c, ErrChangeLimit
	}
	if s&aExternal != 0 {
		return c, &FlagChangeError{Flag: "COLLECT_METADATA"}
	}
	if s&aPortRange != 0 {
		return c, ErrChangePortRange
	}
	if s&aPort != 0 {
		return c, ErrChangePort
	}
	if s&aUDPCsum != 0 {
		return c, ErrChangeUDPCsum
	}
	if s&aLocalBypass != 0 {
		n.NoLocalBypass = v.NoLocalBypass
	}
	for _, f := range [...]struct {
		a    attr
		name string
	}{
		{aUDP6TX, "UDP_ZERO_CSUM6_TX"}, {aUDP6RX, "UDP_ZERO_CSUM6_RX"},
		{aRemTX, "REMCSUM_TX"}, {aRemRX, "REMCSUM_RX"}, {aGBP, "GBP"}, {aGPE, "GPE"},
	} {
		if s&f.a != 0 {
			return c, &FlagChangeError{Flag: f.name}
		}
	}
	if s&aReservedBits != 0 {
		return c, ErrChangeReservedBits
	}
	if s&aGBPMark != 0 {
		// vtep extension; GBP itself cannot change (refused above).
		if !c.GBP {
			return c, ErrGBPMarkNeedsGBP
		}
		n.GBPMark = v.GBPMark
	}
	if s&aMCRoute != 0 {
		n.MCRoute = v.MCRoute
	}
	if s&aMTU != 0 {
		n.MTU = v.MTU
	}
	if s&aDF != 0 {
		n.DF = v.DF
	}
	if s&aVNIFilter != 0 {
		return c, &FlagChangeError{}
	}
	if s&aAddress != 0 {
		n.Address = v.Address
	}

	// vxlan_config_validate.
	n = n.Canonical()
	if err := n.Validate(); err != nil {
		return c, err
	}
	return n, nil
}
