package bench

import (
	"fmt"
	"strconv"
	"time"
)

// typedPayloads are the typed-ping requests (docs/peers.md): "minimal", an
// envelope with sequence, kind and correlation id (the 64 B class), and
// "model", a ModelRequest with 256 float32 features.
var typedPayloads = []struct {
	name  string
	class int
}{{"minimal", 64}, {"model", 1 << 10}}

// typedRTT measures typed round trips: typed-ping builds a request in place,
// typed-echo verifies it and builds a response in place, typed-ping verifies
// and reads the response. FlatBuffers, adaptive wait.
func (r *run) typedRTT(payload string) func(Row) (Row, error) {
	return func(row Row) (Row, error) {
		seg, err := r.newSegment(ringCapacity(row.Size), "ping", "pong")
		if err != nil {
			return row, err
		}
		defer dropSegment(seg)
		iters, warmup := r.rttIters(row)
		echo := r.launchers[row.Reader].Command(append([]string{"typed-echo", "--segment", seg.Name(), "--in", "ping", "--out", "pong", "--format", "fbs"}, spinArgs(row.Wait)...)...)
		ping := r.launchers[row.Writer].Command(append([]string{"typed-ping", "--segment", seg.Name(), "--out", "ping", "--in", "pong",
			"--payload", payload, "--format", "fbs", "--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup)}, spinArgs(row.Wait)...)...)
		line, err := r.pair(row.Reader+" typed-echo", echo, row.Writer+" typed-ping", func(string) []string { return ping }, r.timeout(iters+warmup, 200*time.Microsecond))
		if err != nil {
			return row, err
		}
		if row, err = rttFromLine(row, line); err != nil {
			return row, err
		}
		size := parseKV(line)["bytes"]
		if size <= 0 {
			return row, fmt.Errorf("typed-ping printed no request size: %q", line)
		}
		row.Size = int(size)
		return row, nil
	}
}
