package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Transports, waits and metrics a Row can name.
const (
	TransportFramebridge = "framebridge"
	// TransportTyped: typed-frame round trips (build in place, verify, read)
	// between typed-ping and typed-echo peers; Size is the request's encoded size.
	TransportTyped = "framebridge-typed"
	// TransportCall: request/response calls over a channel (docs/channels.md)
	// between a `call-ping` client (Writer) and a `serve` server (Reader).
	TransportCall = "framebridge-call"
	// TransportGRPC: gRPC unary echo calls over a Unix socket (bench/grpc).
	TransportGRPC  = "grpc"
	TransportUDS   = "uds"
	TransportTCP   = "tcp"
	TransportFloor = "floor"

	WaitAdaptive = "adaptive" // the library's default: spin, then futex
	WaitBlock    = "block"    // always sleep (--spin-us 0); sockets block in the kernel
	WaitSpin     = "spin"     // busy-spin only (the floor)

	MetricRTT        = "rtt"
	MetricThroughput = "throughput"
)

// Row is one measurement, printed by --json as one line with exactly these
// keys in this order. Round-trip rows carry p50/p99 and zero rates;
// throughput rows carry rates and zero percentiles.
type Row struct {
	Transport string  `json:"transport"`
	Writer    string  `json:"writer"`
	Reader    string  `json:"reader"`
	Size      int     `json:"size"`
	Wait      string  `json:"wait"`
	Metric    string  `json:"metric"`
	P50       int64   `json:"p50_ns"`
	P99       int64   `json:"p99_ns"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	BytesPerS float64 `json:"bytes_per_s"`
}

// JSON returns the row as one line of JSON (no trailing newline).
func (r Row) JSON() string {
	r.MsgsPerS = math.Round(r.MsgsPerS)
	r.BytesPerS = math.Round(r.BytesPerS)
	b, err := json.Marshal(r)
	if err != nil { // cannot happen: only strings and finite numbers
		panic(err)
	}
	return string(b)
}

// Key names the row without its figures, e.g. "framebridge go>go 64B adaptive rtt".
func (r Row) Key() string {
	return fmt.Sprintf("%s %s>%s %s %s %s", r.Transport, r.Writer, r.Reader, SizeLabel(r.Size), r.Wait, r.Metric)
}

// Percentile returns the q-th percentile (0 < q <= 100) of sorted samples,
// by nearest rank: the smallest sample with at least q% of the samples at or
// below it. It returns 0 for no samples.
func Percentile(sorted []int64, q float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(n)))
	return sorted[max(0, min(rank-1, n-1))]
}

// Summarize sorts samples in place and returns their p50 and p99.
func Summarize(samples []int64) (p50, p99 int64) {
	slices.Sort(samples)
	return Percentile(samples, 50), Percentile(samples, 99)
}

// SizeLabel prints a payload size as 64B, 1KiB, 64KiB, ...
func SizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// parseKV parses "ok a=1 b=2" into {"a": 1, "b": 2} (the word before the
// first '=' pair is ignored).
func parseKV(line string) map[string]int64 {
	m := map[string]int64{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}
