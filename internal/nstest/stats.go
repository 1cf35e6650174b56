package nstest

import (
	"encoding/json"
	"fmt"
	"testing"
)

// LinkCounters are one direction's interface counters.
type LinkCounters struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	Errors  uint64 `json:"errors"`
	Dropped uint64 `json:"dropped"`
}

// LinkStats are an interface's counters as `ip -s link show` reports them.
type LinkStats struct {
	RX, TX LinkCounters
}

// LinkStats returns dev's counters (`ip -j -s link show dev DEV`), failing
// the test on error.
func (ns *NS) LinkStats(t testing.TB, dev string) LinkStats {
	t.Helper()
	out := ns.IP(t, "-j", "-s", "link", "show", "dev", dev)
	st, err := parseLinkStats([]byte(out))
	if err != nil {
		t.Fatalf("[%s] %s: %v", ns.Name, dev, err)
	}
	return st
}

func parseLinkStats(b []byte) (LinkStats, error) {
	var links []struct {
		Stats64 *struct {
			RX LinkCounters `json:"rx"`
			TX LinkCounters `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(b, &links); err != nil {
		return LinkStats{}, fmt.Errorf("nstest: parsing ip -j -s link: %w", err)
	}
	if len(links) != 1 || links[0].Stats64 == nil {
		return LinkStats{}, fmt.Errorf("nstest: ip -j -s link: want one link with stats64, got %d links", len(links))
	}
	return LinkStats{RX: links[0].Stats64.RX, TX: links[0].Stats64.TX}, nil
}
