package header_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vtepd/vtep/header"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in   string
		want header.MAC
		ok   bool
	}{
		{"02:00:00:00:00:01", header.MAC{2, 0, 0, 0, 0, 1}, true},
		{"02-00-00-00-00-01", header.MAC{2, 0, 0, 0, 0, 1}, true},
		{"FF:ff:Ff:fF:ff:FF", header.BroadcastMAC, true},
		{"2:0:0:0:0:1", header.MAC{2, 0, 0, 0, 0, 1}, true}, // one-digit octets, as iproute2's ll_addr_a2n
		{"00:00:00:00:00:00", header.ZeroMAC, true},
		{"02:00:00:00:00", header.MAC{}, false},
		{"02:00:00:00:00:01:02", header.MAC{}, false},
		{"02:00:00:00:00:001", header.MAC{}, false},
		{"02:00:00:00:00:0g", header.MAC{}, false},
		{"02.00.00.00.00.01", header.MAC{}, false},
		{"0200.0000.0001", header.MAC{}, false},
		{"", header.MAC{}, false},
	}
	for _, tt := range tests {
		got, err := header.ParseMAC(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestMACPredicates(t *testing.T) {
	for _, tt := range []struct {
		m                                   string
		zero, multicast, broadcast, unicast bool
	}{
		{"00:00:00:00:00:00", true, false, false, false},
		{"ff:ff:ff:ff:ff:ff", false, true, true, false},
		{"01:00:5e:00:00:01", false, true, false, false},
		{"33:33:00:00:00:01", false, true, false, false},
		{"02:00:00:00:00:01", false, false, false, true},
	} {
		m := header.MustParseMAC(tt.m)
		if m.IsZero() != tt.zero || m.IsMulticast() != tt.multicast || m.IsBroadcast() != tt.broadcast || m.IsValidUnicast() != tt.unicast {
			t.Errorf("%s: zero %v multicast %v broadcast %v unicast %v", tt.m, m.IsZero(), m.IsMulticast(), m.IsBroadcast(), m.IsValidUnicast())
		}
		if m.String() != tt.m {
			t.Errorf("String() = %q, want %q", m.String(), tt.m)
		}
		text, _ := m.MarshalText()
		var back header.MAC
		if err := back.UnmarshalText(text); err != nil || back != m {
			t.Errorf("text round trip: %v, %v", back, err)
		}
	}
}

func TestParseVNI(t *testing.T) {
	tests := []struct {
		in       string
		want     header.VNI
		ok       bool
		rangeErr bool
	}{
		{"42", 42, true, false},
		{"0x2a", 42, true, false},
		{"0", 0, true, false},
		{"16777215", header.MaxVNI, true, false},
		{"16777216", 0, false, true},
		{"99999999999999999999", 0, false, false},
		{"-1", 0, false, false},
		{"vni", 0, false, false},
		{"", 0, false, false},
	}
	for _, tt := range tests {
		got, err := header.ParseVNI(tt.in)
		var re *header.ErrVNIRange
		if (err == nil) != tt.ok || got != tt.want || errors.As(err, &re) != tt.rangeErr {
			t.Errorf("ParseVNI(%q) = %v, %v; want %v, ok=%v, range error=%v", tt.in, got, err, tt.want, tt.ok, tt.rangeErr)
		}
	}
	if _, err := header.NewVNI(uint32(header.NumVNI)); err == nil {
		t.Error("NewVNI(2^24) succeeded")
	}
	if v, err := header.NewVNI(7); err != nil || v != 7 || !v.IsValid() {
		t.Errorf("NewVNI(7) = %v, %v", v, err)
	}
	if header.VNI(header.NumVNI).IsValid() {
		t.Error("VNI(2^24).IsValid() = true")
	}
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"02:00:00:00:00:01", "2-0-0-0-0-1", "ff:ff:ff:ff:ff:ff", "02:00:00:00:00", "0g:00:00:00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := header.ParseMAC(s)
		if err != nil {
			return
		}
		back, err := header.ParseMAC(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMAC(%q) = %v, but ParseMAC(String()) = %v, %v", s, m, back, err)
		}
		// Differential: with two-digit octets our syntax is a subset of
		// net.ParseMAC's (which also accepts dotted and 8/20-byte forms).
		if len(s) == 17 && !strings.ContainsAny(s, ".") {
			hw, err := net.ParseMAC(s)
			if err == nil && header.MAC(hw) != m {
				t.Fatalf("ParseMAC(%q) = %v, net.ParseMAC = %v", s, m, hw)
			}
		}
	})
}

func FuzzParseVNI(f *testing.F) {
	for _, s := range []string{"42", "0x2a", "16777215", "16777216", "-1", "vni"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := header.ParseVNI(s)
		if err != nil {
			return
		}
		if !v.IsValid() {
			t.Fatalf("ParseVNI(%q) = %d, out of range", s, v)
		}
		back, err := header.ParseVNI(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseVNI(String()) = %v, %v; want %v", back, err, v)
		}
	})
}
