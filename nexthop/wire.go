package nexthop

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vtepd/vtep/internal/nlattr"
)

// Netlink message types and the multicast group of nexthop notifications
// (include/uapi/linux/rtnetlink.h).
const (
	RTMNewNexthop = 104 // RTM_NEWNEXTHOP
	RTMDelNexthop = 105 // RTM_DELNEXTHOP
	RTMGetNexthop = 106 // RTM_GETNEXTHOP
	RTNLGroup     = 32  // RTNLGRP_NEXTHOP

	RTMNewNexthopBucket = 116 // RTM_NEWNEXTHOPBUCKET
	RTMGetNexthopBucket = 118 // RTM_GETNEXTHOPBUCKET
)

// Attribute types (enum in include/uapi/linux/nexthop.h).
const (
	nhaID        = 1  // NHA_ID: u32
	nhaGroup     = 2  // NHA_GROUP: array of struct nexthop_grp
	nhaGroupType = 3  // NHA_GROUP_TYPE: u16
	nhaBlackhole = 4  // NHA_BLACKHOLE: flag
	nhaOIF       = 5  // NHA_OIF: u32
	nhaGateway   = 6  // NHA_GATEWAY: be32 or in6_addr
	nhaFDB       = 11 // NHA_FDB: flag
	nhaResGroup  = 12 // NHA_RES_GROUP: nest of NHA_RES_GROUP_*
	nhaResBucket = 13 // NHA_RES_BUCKET: nest of NHA_RES_BUCKET_*

	resGroupBuckets = 1 // NHA_RES_GROUP_BUCKETS: u16

	resBucketIndex = 1 // NHA_RES_BUCKET_INDEX: u16
	resBucketNHID  = 3 // NHA_RES_BUCKET_NH_ID: u32

	grpTypeRes = 1 // NEXTHOP_GRP_TYPE_RES
)

// MessageSize is the size of struct nhmsg, the fixed header of every
// nexthop message.
const MessageSize = 8

// nexthopGrpSize is the size of struct nexthop_grp.
const nexthopGrpSize = 8

// ErrMalformed is returned by [ParseMessage] for a message it cannot read.
var ErrMalformed = errors.New("nexthop: malformed message")

// ParseMessage reads the payload of an RTM_NEWNEXTHOP or RTM_DELNEXTHOP
// message: struct nhmsg followed by NHA_* attributes. Unknown attributes
// are skipped. It returns ErrMalformed when the header or an attribute is
// truncated, a known attribute has the wrong length, or NHA_ID is missing
// or 0.
func ParseMessage(b []byte) (Nexthop, error) {
	var nh Nexthop
	if len(b) < MessageSize {
		return nh, ErrMalformed
	}
	nh.Protocol = b[2]
	if err := eachAttr(b[MessageSize:], nh.setAttr); err != nil {
		return Nexthop{}, err
	}
	if nh.ID == 0 {
		return Nexthop{}, ErrMalformed
	}
	return nh, nil
}

// eachAttr calls fn for each netlink attribute in a, stopping at its first
// error; a malformed attribute is ErrMalformed.
func eachAttr(a []byte, fn func(typ uint16, v []byte) error) error {
	return nlattr.Each(a, ErrMalformed, fn)
}

// ParseBucket reads the payload of an RTM_NEWNEXTHOPBUCKET message: struct
// nhmsg, NHA_ID (the group) and the NHA_RES_BUCKET nest. It returns
// ErrMalformed when the message or an attribute is truncated, a known
// attribute has the wrong length, or the group ID, the bucket nest or its
// nexthop ID is missing.
func ParseBucket(b []byte) (Bucket, error) {
	var bk Bucket
	if len(b) < MessageSize {
		return bk, ErrMalformed
	}
	hasIndex := false
	err := eachAttr(b[MessageSize:], func(typ uint16, v []byte) error {
		switch typ {
		case nhaID:
			if len(v) != 4 {
				return ErrMalformed
			}
			bk.Group = binary.NativeEndian.Uint32(v)
		case nhaResBucket:
			return eachAttr(v, func(typ uint16, v []byte) error {
				switch typ {
				case resBucketIndex:
					if len(v) != 2 {
						return ErrMalformed
					}
					bk.Index, hasIndex = binary.NativeEndian.Uint16(v), true
				case resBucketNHID:
					if len(v) != 4 {
						return ErrMalformed
					}
					bk.Nexthop = binary.NativeEndian.Uint32(v)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil || bk.Group == 0 || bk.Nexthop == 0 || !hasIndex {
		return Bucket{}, ErrMalformed
	}
	return bk, nil
}

// AppendBucket appends bk as the payload of an RTM_NEWNEXTHOPBUCKET
// message, the inverse of [ParseBucket]; tests use it.
func AppendBucket(b []byte, bk Bucket) []byte {
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendAttr(b, nhaID, binary.NativeEndian.AppendUint32(nil, bk.Group))
	var n []byte
	n = appendAttr(n, resBucketIndex, binary.NativeEndian.AppendUint16(nil, bk.Index))
	n = appendAttr(n, resBucketNHID, binary.NativeEndian.AppendUint32(nil, bk.Nexthop))
	return appendAttr(b, nhaResBucket, n)
}

func (nh *Nexthop) setAttr(typ uint16, v []byte) error {
	switch typ {
	case nhaID:
		if len(v) != 4 {
			return ErrMalformed
		}
		nh.ID = binary.NativeEndian.Uint32(v)
	case nhaGroup:
		if len(v) == 0 || len(v)%nexthopGrpSize != 0 {
			return ErrMalformed
		}
		nh.Group = make([]Member, 0, len(v)/nexthopGrpSize)
		for ; len(v) > 0; v = v[nexthopGrpSize:] {
			nh.Group = append(nh.Group, Member{
				ID: binary.NativeEndian.Uint32(v[0:4]),
				// weight and weight_high hold the weight minus one.
				Weight: uint32(v[4]) | uint32(v[5])<<8 + 1,
			})
		}
	case nhaGroupType:
		if len(v) != 2 {
			return ErrMalformed
		}
		nh.Resilient = binary.NativeEndian.Uint16(v) == grpTypeRes
	case nhaBlackhole:
		nh.Blackhole = true
	case nhaOIF:
		if len(v) != 4 {
			return ErrMalformed
		}
		nh.Oif = int(binary.NativeEndian.Uint32(v))
	case nhaGateway:
		a, ok := netip.AddrFromSlice(v)
		if !ok {
			return ErrMalformed
		}
		nh.Gateway = a
	case nhaFDB:
		nh.FDB = true
	case nhaResGroup:
		return eachAttr(v, func(typ uint16, v []byte) error {
			if typ == resGroupBuckets {
				if len(v) != 2 {
					return ErrMalformed
				}
				nh.NumBuckets = binary.NativeEndian.Uint16(v)
			}
			return nil
		})
	}
	return nil
}

// AppendMessage appends nh as the payload of an RTM_NEWNEXTHOP message
// (struct nhmsg and attributes), the inverse of [ParseMessage]. Tests use
// it to build messages; the family byte is that of the gateway, or
// AF_UNSPEC.
func AppendMessage(b []byte, nh *Nexthop) []byte {
	var fam byte
	switch {
	case nh.Gateway.Is4():
		fam = 2 // AF_INET
	case nh.Gateway.Is6():
		fam = 10 // AF_INET6
	}
	b = append(b, fam, 0, nh.Protocol, 0, 0, 0, 0, 0)
	b = appendAttr(b, nhaID, binary.NativeEndian.AppendUint32(nil, nh.ID))
	if nh.Group != nil {
		var g []byte
		for _, m := range nh.Group {
			w := max(m.Weight, 1) - 1
			g = binary.NativeEndian.AppendUint32(g, m.ID)
			g = append(g, byte(w), byte(w>>8), 0, 0)
		}
		b = appendAttr(b, nhaGroup, g)
	}
	if nh.Group != nil || nh.Resilient {
		var typ uint16
		if nh.Resilient {
			typ = grpTypeRes
		}
		b = appendAttr(b, nhaGroupType, binary.NativeEndian.AppendUint16(nil, typ))
	}
	if nh.NumBuckets != 0 {
		b = appendAttr(b, nhaResGroup, appendAttr(nil, resGroupBuckets, binary.NativeEndian.AppendUint16(nil, nh.NumBuckets)))
	}
	if nh.Blackhole {
		b = appendAttr(b, nhaBlackhole, nil)
	}
	if nh.Oif != 0 {
		b = appendAttr(b, nhaOIF, binary.NativeEndian.AppendUint32(nil, uint32(nh.Oif)))
	}
	if nh.Gateway.IsValid() {
		b = appendAttr(b, nhaGateway, nh.Gateway.AsSlice())
	}
	if nh.FDB {
		b = appendAttr(b, nhaFDB, nil)
	}
	return b
}

func appendAttr(b []byte, typ uint16, v []byte) []byte { return nlattr.Append(b, typ, v) }
