package config

import (
	"errors"
	"testing"
	"time"
)

func TestZeroLinkIsKernelDefault(t *testing.T) {
	// vxlan_nl2conf sets LEARN and LOCALBYPASS when their attributes are
	// absent; UDP checksums are on unless IFLA_VXLAN_UDP_CSUM is 0.
	l := Link{VNI: 1}
	if err := l.Validate(); err != nil {
		t.Fatalf("Link{VNI: 1}.Validate() = %v", err)
	}
	if got, want := l.Flags(), FlagLearn|FlagLocalBypass; got != want {
		t.Errorf("Flags() = %v, want %v", got, want)
	}
	if got := l.Port(); got != 4789 {
		t.Errorf("Port() = %d, want 4789 (RFC 7348 §5 IANA port)", got)
	}
	if got := l.AgeingTime(); got != 300*time.Second {
		t.Errorf("AgeingTime() = %v, want 5m (FDB_AGE_DEFAULT)", got)
	}
	if lo, hi := l.SourcePortRange(); lo != 32768 || hi != 60999 {
		t.Errorf("SourcePortRange() = %d, %d; want 32768, 60999 (ip_local_port_range)", lo, hi)
	}
	if got := l.EffectiveReservedBits(); got != 0xf7ffffff000000ff {
		t.Errorf("EffectiveReservedBits() = %#x, want 0xf7ffffff000000ff (vxlan_reserved.sh)", got)
	}
	if l.IsIPv6() || l.IsGroup() || l.HasRemote() {
		t.Errorf("IsIPv6, IsGroup, HasRemote = %v, %v, %v; want false", l.IsIPv6(), l.IsGroup(), l.HasRemote())
	}
	if DefaultAgeing != 300*time.Second || AgeSweepInterval != 10*time.Second || DefaultPort != 4789 || DefaultGPEPort != 4790 {
		t.Error("exported defaults changed")
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		name   string
		in     Link
		want   Link
		noteq  bool
		reason string
	}{
		{"dstport 0 becomes 4789", Link{}, Link{DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
		{"dstport 0 with gpe becomes 4790", Link{GPE: true}, Link{GPE: true, DstPort: 4790, Ageing: DefaultAgeing}, false, ""},
		{"ttl is unused with ttl inherit", Link{TTLInherit: true, TTL: 64},
			Link{TTLInherit: true, DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
		{"flowlabel is unused with label inherit", Link{LabelPolicy: LabelInherit, FlowLabel: 7},
			Link{LabelPolicy: LabelInherit, DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
		{"reserved bits equal to the default", Link{ReservedBitsSet: true, ReservedBits: 0xf7ffffff000000ff},
			Link{DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
		{"reserved bits default follows gbp", Link{GBP: true, ReservedBitsSet: true, ReservedBits: ^uint64(0x88ffffffffffff00)},
			Link{GBP: true, DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
		{"stray reserved bits without Set", Link{ReservedBits: 5}, Link{DstPort: 4789, Ageing: DefaultAgeing}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Canonical(); got != tt.want {
				t.Errorf("Canonical() = %+v, want %+v", got, tt.want)
			}
			if c := tt.in.Canonical(); c.Canonical() != c {
				t.Error("Canonical is not idempotent")
			}
		})
	}
}

func TestUsedBits(t *testing.T) {
	// vxlan_nl2conf: used_bits starts as VXLAN_HF_VNI|VXLAN_VNI_MASK and
	// grows with REMCSUM_RX (RCO flag and the low VNI byte), GBP and GPE.
	tests := []struct {
		name string
		l    Link
		want uint64
	}{
		{"plain", Link{}, 0x08000000ffffff00},
		{"remcsumrx", Link{RemCsumRX: true}, 0x08200000ffffffff},
		{"gbp", Link{GBP: true}, 0x88ffffffffffff00},
		{"gpe", Link{GPE: true}, 0x3d0000ffffffff00},
	}
	for _, tt := range tests {
		if got := tt.l.UsedBits(); got != tt.want {
			t.Errorf("%s: UsedBits() = %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestFlags(t *testing.T) {
	l, err := ParseArgs([]string{"id", "1", "local", "fe80::1", "dev", "eth0", "nolearning", "noudpcsum", "ttl", "inherit", "mcroute"})
	if err != nil {
		t.Fatal(err)
	}
	want := FlagIPv6 | FlagIPv6LinkLocal | FlagUDPZeroCsumTX | FlagTTLInherit | FlagLocalBypass | FlagMCRoute
	if got := l.Flags(); got != want {
		t.Errorf("Flags() = %v, want %v", got, want)
	}
	if got := want.String(); got != "IPV6|UDP_ZERO_CSUM_TX|IPV6_LINKLOCAL|TTL_INHERIT|LOCALBYPASS|MC_ROUTE" {
		t.Errorf("String() = %q", got)
	}
	if got := (Flags(0)).String(); got != "0" {
		t.Errorf("Flags(0).String() = %q", got)
	}
	if got := (FlagLearn | 1<<30).String(); got != "LEARN|0x40000000" {
		t.Errorf("String() = %q", got)
	}
	// An external device never sets IPV6_LINKLOCAL (vxlan_config_validate
	// skips the scope checks).
	l = Link{External: true, Local: addr("fe80::1")}
	if l.Flags()&FlagIPv6LinkLocal != 0 {
		t.Error("external device has IPV6_LINKLOCAL")
	}
}

func TestMTU(t *testing.T) {
	// vxlan_headroom and vxlan_config_apply.
	tests := []struct {
		name     string
		l        Link
		overhead int
		lower    int
		max      int
		def      int
	}{
		{"IPv4", Link{Dev: "eth0"}, 50, 1500, 1450, 1450},
		{"IPv6", Link{Dev: "eth0", Remote: addr("2001:db8::1")}, 70, 1500, 1430, 1430},
		{"IPv6 from local", Link{Dev: "eth0", Local: addr("2001:db8::1")}, 70, 9000, 8930, 8930},
		{"GPE IPv4", Link{Dev: "eth0", GPE: true, External: true}, 36, 1500, 1464, 1464},
		{"GPE IPv6", Link{Dev: "eth0", GPE: true, External: true, Local: addr("::")}, 56, 1500, 1444, 1444},
		{"no lower device", Link{}, 50, 0, 65535, 1500},
		{"lower MTU given but no dev", Link{}, 50, 1500, 1450, 1500},
		{"tiny lower MTU clamps at 68", Link{Dev: "eth0"}, 50, 100, 68, 68},
		{"explicit MTU wins", Link{Dev: "eth0", MTU: 1300}, 50, 1500, 1450, 1300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Overhead(); got != tt.overhead {
				t.Errorf("Overhead() = %d, want %d", got, tt.overhead)
			}
			if got := tt.l.MaxMTU(tt.lower); got != tt.max {
				t.Errorf("MaxMTU(%d) = %d, want %d", tt.lower, got, tt.max)
			}
			if got := tt.l.DeviceMTU(tt.lower); got != tt.def {
				t.Errorf("DeviceMTU(%d) = %d, want %d", tt.lower, got, tt.def)
			}
		})
	}
}

func TestCheckMTU(t *testing.T) {
	// vxlan_change_mtu refuses more than lower->mtu - headroom; the core
	// refuses less than 68 and more than 65535.
	l := Link{Dev: "eth0"}
	if err := l.CheckMTU(1450, 1500); err != nil {
		t.Errorf("CheckMTU(1450, 1500) = %v", err)
	}
	err := l.CheckMTU(1451, 1500)
	var me *MTUError
	if !errors.As(err, &me) || me.Max != 1450 || !errors.Is(err, ErrMTURange) {
		t.Errorf("CheckMTU(1451, 1500) = %v, want *MTUError{Max: 1450}", err)
	}
	if err := l.CheckMTU(67, 0); !errors.Is(err, ErrMTURange) {
		t.Errorf("CheckMTU(67, 0) = %v", err)
	}
	if err := l.CheckMTU(65535, 0); err != nil {
		t.Errorf("CheckMTU(65535, 0) = %v", err)
	}
	if err := l.CheckMTU(65536, 0); !errors.Is(err, ErrMTURange) {
		t.Errorf("CheckMTU(65536, 0) = %v", err)
	}
}

func TestSourcePortRange(t *testing.T) {
	// udp_flow_src_port: min >= max falls back to the local port range.
	tests := []struct{ min, max, wantMin, wantMax uint16 }{
		{0, 0, 32768, 60999},
		{5000, 5000, 32768, 60999},
		{49152, 65535, 49152, 65535},
		{0, 100, 0, 100},
	}
	for _, tt := range tests {
		lo, hi := Link{SrcPortMin: tt.min, SrcPortMax: tt.max}.SourcePortRange()
		if lo != tt.wantMin || hi != tt.wantMax {
			t.Errorf("SourcePortRange(%d, %d) = %d, %d; want %d, %d", tt.min, tt.max, lo, hi, tt.wantMin, tt.wantMax)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for v, want := range map[string]string{
		DFUnset.String(): "unset", DFSet.String(): "set", DFInherit.String(): "inherit", DF(9).String(): "DF(9)",
		LabelFixed.String(): "fixed", LabelInherit.String(): "inherit", LabelPolicy(3).String(): "LabelPolicy(3)",
		FDBPermanent.String(): "permanent", FDBStatic.String(): "static", FDBDynamic.String(): "dynamic",
		FDBAdd.String(): "add", FDBAppend.String(): "append", FDBReplace.String(): "replace",
		FDBState(7).String(): "FDBState(7)", FDBOp(7).String(): "FDBOp(7)",
	} {
		if v != want {
			t.Errorf("String() = %q, want %q", v, want)
		}
	}
}

func TestPositiveAccessors(t *testing.T) {
	l := Link{}
	if !l.Learning() || !l.UDPCsum() || !l.LocalBypass() {
		t.Error("zero Link: Learning, UDPCsum, LocalBypass should be on (vxlan_nl2conf defaults)")
	}
	l = Link{NoLearning: true, NoUDPCsum: true, NoLocalBypass: true}
	if l.Learning() || l.UDPCsum() || l.LocalBypass() {
		t.Error("No* fields not reflected")
	}
}
