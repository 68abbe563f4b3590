package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Call rows: request/response over a channel (docs/channels.md) between a
// client and a server peer (docs/peers.md `serve`, `call-ping`), beside the
// same echo as a gRPC unary call over a Unix socket (bench/grpc). Writer is
// the client's language, Reader the server's.

// callSizes are the payload sizes of the call rows: a channel's rings are
// 64 KiB by default, so no 64 KiB row.
var callSizes = []int{64, 1 << 10}

// GRPCBenchPath is where `make build` puts the gRPC baseline program,
// relative to the repository root.
const GRPCBenchPath = "bin/framebridge-grpc-bench"

// callJobs lists the call rows of one client/server pair.
func (r *run) callJobs(client, server string, add func(Row, func(Row) (Row, error))) {
	for _, size := range callSizes {
		add(Row{Transport: TransportCall, Writer: client, Reader: server, Size: size, Wait: WaitAdaptive, Metric: MetricRTT}, r.callRTT)
	}
	add(Row{Transport: TransportCall, Writer: client, Reader: server, Size: 64, Wait: WaitBlock, Metric: MetricRTT}, r.callRTT)
}

// grpcJobs lists the gRPC baseline rows (Go client and server).
func (r *run) grpcJobs(add func(Row, func(Row) (Row, error))) {
	for _, size := range callSizes {
		add(Row{Transport: TransportGRPC, Writer: "go", Reader: "go", Size: size, Wait: WaitBlock, Metric: MetricRTT}, r.grpcRTT)
	}
}

func (r *run) callRTT(row Row) (Row, error) {
	dir, err := os.MkdirTemp("", "framebridge-bench-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "call.sock")
	iters, warmup := r.rttIters(row)
	per := 200 * time.Microsecond
	if row.Wait == WaitBlock {
		per = 2 * time.Millisecond
	}
	server := r.launchers[row.Reader].Command(append([]string{"serve", "--socket", sock}, spinArgs(row.Wait)...)...)
	client := r.launchers[row.Writer].Command(append([]string{"call-ping", "--socket", sock,
		"--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup), "--size", strconv.Itoa(row.Size)}, spinArgs(row.Wait)...)...)
	line, err := r.servePair(row.Reader+" serve", server, row.Writer+" call-ping", client, iters+warmup, r.timeout(iters+warmup, per))
	if err != nil {
		return row, err
	}
	return rttFromLine(row, line)
}

func (r *run) grpcRTT(row Row) (Row, error) {
	exe, err := r.grpcBench()
	if err != nil {
		return row, err
	}
	dir, err := os.MkdirTemp("", "framebridge-bench-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "grpc.sock")
	iters, warmup := r.rttIters(row)
	server := []string{exe, "serve", "--socket", sock}
	client := []string{exe, "ping", "--socket", sock,
		"--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup), "--size", strconv.Itoa(row.Size)}
	line, err := r.servePair("grpc serve", server, "grpc ping", client, iters+warmup, r.timeout(iters+warmup, 2*time.Millisecond))
	if err != nil {
		return row, err
	}
	return rttFromLine(row, line)
}

// grpcBench returns the gRPC baseline program, or an errSkipped saying how
// to build it.
func (r *run) grpcBench() (string, error) {
	p := r.cfg.GRPCBench
	if p == "" {
		p = filepath.Join(r.cfg.Root, GRPCBenchPath)
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: no gRPC baseline program at %s (build it with `make build`)", errSkipped, p)
	}
	return p, nil
}

// servePair runs a server that serves until its standard input closes
// (core 1) and a client against it (core 0), and returns the client's `ok`
// line. The server must have answered at least calls calls. A peer that
// exits with a usage error before `ready` lacks the command: the row is
// skipped (errSkipped), not failed.
func (r *run) servePair(serverName string, server []string, clientName string, client []string, calls int, limit time.Duration) (string, error) {
	srv, err := startServer(serverName, server, r.cfg.Root, r.cpu(1))
	if err != nil {
		return "", err
	}
	defer srv.kill()
	if _, err := expectReady(srv); err != nil {
		return "", err
	}
	cl, err := startProc(clientName, client, r.cfg.Root, r.cpu(0))
	if err != nil {
		return "", err
	}
	defer cl.kill()
	if _, err := expectReady(cl); err != nil {
		return "", err
	}
	line, err := cl.expect("ok", limit)
	if err != nil {
		return "", err
	}
	if err := cl.wait(10 * time.Second); err != nil {
		return "", err
	}
	srv.stdin.Close()
	done, err := srv.expect("ok", 10*time.Second)
	if err != nil {
		return "", err
	}
	if err := srv.wait(10 * time.Second); err != nil {
		return "", err
	}
	if n, ok := parseKV(done)["calls"]; !ok || n < int64(calls) {
		return "", fmt.Errorf("%s answered fewer calls than %s made (%d): %q", serverName, clientName, calls, done)
	}
	return line, nil
}

// expectReady waits for p's `ready` line; exit status 2 (a usage error)
// before it means the peer does not have this command (yet).
func expectReady(p *proc) (string, error) {
	line, err := p.expect("ready", 60*time.Second)
	if err == nil {
		return line, nil
	}
	select {
	case <-p.waited:
		var exit *exec.ExitError
		if errors.As(p.err, &exit) && exit.ExitCode() == 2 {
			return "", fmt.Errorf("%w: %s: the peer does not take this command (usage error: %s)", errSkipped, p.name, p.stderr.firstLine())
		}
	default:
	}
	return "", err
}
