package nstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Iperf3Server is an `iperf3 -s` running in a namespace.
type Iperf3Server struct {
	// Addr is the address and port the server listens on.
	Addr netip.AddrPort
	Proc *Proc
}

// StartIperf3Server starts `iperf3 -s -B addr -p port` in the namespace and
// waits until it listens. It serves one test at a time until the test ends.
func (ns *NS) StartIperf3Server(t testing.TB, addr netip.AddrPort) *Iperf3Server {
	t.Helper()
	port := strconv.Itoa(int(addr.Port()))
	p := ns.Start(t, "iperf3", "-s", "-B", addr.Addr().String(), "-p", port)
	WaitFor(t, 10*time.Second, "iperf3 server on "+addr.String(), func() error {
		if exited, err := p.Exited(); exited {
			return Permanent(fmt.Errorf("iperf3 server exited: %v: %s", err, p.Output()))
		}
		out, err := ns.Exec(context.Background(), "ss", "-H", "-l", "-t", "-n", "sport = :"+port)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return errors.New("not listening yet")
		}
		return nil
	})
	return &Iperf3Server{Addr: addr, Proc: p}
}

// Iperf3Options configures an iperf3 client run.
type Iperf3Options struct {
	// Duration is the test length (-t, whole seconds); default 2s.
	Duration time.Duration
	// Streams is the number of parallel streams (-P); default 1.
	Streams int
	// UDP selects UDP (-u) instead of TCP.
	UDP bool
	// Length is the write size (-l), e.g. 64 for small-datagram tests.
	Length int
	// Bitrate is the target rate (-b), e.g. "0" for unlimited; "" leaves
	// iperf3's default (unlimited for TCP, 1 Mbit/s for UDP).
	Bitrate string
	// Reverse makes the server send (-R).
	Reverse bool
	// Extra is appended verbatim.
	Extra []string
}

// Args returns the client arguments (always with -J for JSON output).
func (o Iperf3Options) Args(server netip.AddrPort) []string {
	secs := int(o.Duration.Round(time.Second) / time.Second)
	if secs <= 0 {
		secs = 2
	}
	args := []string{"-c", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())),
		"-t", strconv.Itoa(secs), "-J", "--connect-timeout", "5000"}
	if o.Streams > 1 {
		args = append(args, "-P", strconv.Itoa(o.Streams))
	}
	if o.UDP {
		args = append(args, "-u")
	}
	if o.Length > 0 {
		args = append(args, "-l", strconv.Itoa(o.Length))
	}
	if o.Bitrate != "" {
		args = append(args, "-b", o.Bitrate)
	}
	if o.Reverse {
		args = append(args, "-R")
	}
	return append(args, o.Extra...)
}

// Iperf3 runs an iperf3 client in the namespace against server and parses
// its JSON report.
func (ns *NS) Iperf3(ctx context.Context, server netip.AddrPort, opt Iperf3Options) (Iperf3Result, error) {
	out, err := ns.Exec(ctx, "iperf3", opt.Args(server)...)
	res, perr := ParseIperf3([]byte(out))
	if perr != nil {
		if err != nil {
			return res, err
		}
		return res, perr
	}
	return res, nil
}

// Iperf3Sum is one direction's totals in an iperf3 report.
type Iperf3Sum struct {
	Seconds       float64
	Bytes         int64
	BitsPerSecond float64
	// Retransmits is the sender's TCP retransmit count (TCP, sender only).
	Retransmits int64
	// Packets and LostPackets are UDP datagram counts. On the receiving
	// side Packets counts the datagrams expected (by sequence number), so
	// the datagrams that arrived are Packets − LostPackets.
	Packets     int64
	LostPackets int64
	JitterMs    float64
}

// Iperf3Result is the part of an iperf3 JSON report the tests use.
type Iperf3Result struct {
	// Protocol is "TCP" or "UDP".
	Protocol string
	Streams  int
	// BlockSize is the write size (-l).
	BlockSize int
	// Duration is the requested test length in seconds.
	Duration float64
	// Sent and Received are the sender's and receiver's totals.
	Sent, Received Iperf3Sum
}

// ReceivedPackets returns the number of UDP datagrams that arrived.
func (r Iperf3Result) ReceivedPackets() int64 {
	return max(r.Received.Packets-r.Received.LostPackets, 0)
}

// ReceivedPacketsPerSecond returns the UDP datagrams that arrived per second.
func (r Iperf3Result) ReceivedPacketsPerSecond() float64 {
	if r.Received.Seconds <= 0 {
		return 0
	}
	return float64(r.ReceivedPackets()) / r.Received.Seconds
}

// SentPacketsPerSecond returns the UDP datagrams sent per second.
func (r Iperf3Result) SentPacketsPerSecond() float64 {
	if r.Sent.Seconds <= 0 {
		return 0
	}
	return float64(r.Sent.Packets) / r.Sent.Seconds
}

// iperf3JSON mirrors the fields of iperf3's -J output that we read
// (iperf3 3.x; UDP sum_sent/sum_received exist since 3.8, older versions
// only have "sum").
type iperf3JSON struct {
	Start struct {
		TestStart struct {
			Protocol   string  `json:"protocol"`
			NumStreams int     `json:"num_streams"`
			BlkSize    int     `json:"blksize"`
			Duration   float64 `json:"duration"`
		} `json:"test_start"`
	} `json:"start"`
	End struct {
		Sum         *iperf3SumJSON `json:"sum"`
		SumSent     *iperf3SumJSON `json:"sum_sent"`
		SumReceived *iperf3SumJSON `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

type iperf3SumJSON struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
	Packets       int64   `json:"packets"`
	LostPackets   int64   `json:"lost_packets"`
	JitterMs      float64 `json:"jitter_ms"`
}

func (s *iperf3SumJSON) sum() Iperf3Sum {
	return Iperf3Sum{Seconds: s.Seconds, Bytes: s.Bytes, BitsPerSecond: s.BitsPerSecond,
		Retransmits: s.Retransmits, Packets: s.Packets, LostPackets: s.LostPackets, JitterMs: s.JitterMs}
}

func (s *iperf3SumJSON) valid() bool {
	ok := func(f float64) bool { return f >= 0 && !math.IsInf(f, 0) }
	return ok(s.Seconds) && ok(s.BitsPerSecond) && ok(s.JitterMs) &&
		s.Bytes >= 0 && s.Retransmits >= 0 && s.Packets >= 0
}

// ParseIperf3 parses an iperf3 JSON report (iperf3 -J). A report carrying
// an "error" field is returned as an error with iperf3's message.
func ParseIperf3(b []byte) (Iperf3Result, error) {
	var j iperf3JSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Iperf3Result{}, fmt.Errorf("nstest: iperf3: parsing JSON report: %w", err)
	}
	if j.Error != "" {
		return Iperf3Result{}, fmt.Errorf("nstest: iperf3: %s", j.Error)
	}
	ts := j.Start.TestStart
	res := Iperf3Result{Protocol: ts.Protocol, Streams: ts.NumStreams, BlockSize: ts.BlkSize, Duration: ts.Duration}
	sent, recv := j.End.SumSent, j.End.SumReceived
	if res.Protocol == "UDP" && (sent == nil || recv == nil) {
		// iperf3 < 3.8: one "sum" with the sender's counts and the
		// receiver's loss.
		sent, recv = j.End.Sum, j.End.Sum
	}
	if sent == nil || recv == nil {
		return Iperf3Result{}, errors.New("nstest: iperf3: report has no end totals")
	}
	if !sent.valid() || !recv.valid() {
		return Iperf3Result{}, errors.New("nstest: iperf3: report has negative or infinite totals")
	}
	res.Sent, res.Received = sent.sum(), recv.sum()
	switch res.Protocol {
	case "TCP", "UDP", "SCTP":
	default:
		return Iperf3Result{}, fmt.Errorf("nstest: iperf3: unknown protocol %q", res.Protocol)
	}
	return res, nil
}
