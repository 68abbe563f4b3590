// Command framebridge-grpc-bench is the gRPC baseline of `framebridge bench`:
// unary echo calls over a Unix socket, measured the way the peers of
// docs/peers.md measure framebridge calls. It lives in its own module so that
// the framebridge library never depends on gRPC.
//
//	framebridge-grpc-bench serve --socket PATH
//	framebridge-grpc-bench ping --socket PATH --iters N [--warmup M] [--size S]
//
// Like the peers, each prints `ready` once listening (serve) or connected
// (ping), then one final `ok ...` line and exits 0; a failed check prints
// `FAIL: ...` and exits 1; a usage error exits 2. serve stops when its
// standard input reaches end of file (as the peers' channel `serve` does).
//
// # Caveats
//
//   - serve run by hand with stdin at /dev/null stops at once: keep its
//     standard input open (a terminal, or a pipe the driver closes).
//   - The messages are raw bytes (see service.go): the figures leave out the
//     protobuf marshalling a real gRPC service pays, so they flatter gRPC.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type usageError string

func (e usageError) Error() string { return string(e) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const usage = "usage: framebridge-grpc-bench serve --socket PATH | ping --socket PATH --iters N [--warmup M] [--size S]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "Unix socket path")
	iters := fs.Int("iters", 10000, "timed calls (ping)")
	warmup := fs.Int("warmup", 1000, "untimed calls first (ping)")
	size := fs.Int("size", 64, "request and response payload bytes, at least 8 (ping)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	say := func(line string) { fmt.Fprintln(stdout, line) }
	var line string
	var err error
	switch {
	case *socket == "":
		err = usageError("--socket is required")
	case fs.NArg() > 0:
		err = usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case args[0] == "serve":
		line, err = serve(*socket, stdin, say)
	case args[0] == "ping":
		if *iters < 1 || *warmup < 0 || *size < 8 {
			err = usageError("ping wants --iters >= 1, --warmup >= 0, --size >= 8")
			break
		}
		line, err = ping(*socket, *iters, *warmup, *size, say)
	default:
		err = usageError(fmt.Sprintf("unknown command %q; %s", args[0], usage))
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, "framebridge-grpc-bench:", err)
			return 2
		}
		say("FAIL: " + err.Error())
		return 1
	}
	say(line)
	return 0
}

// serve answers echo calls on a Unix socket until stdin ends (or SIGINT/SIGTERM).
func serve(path string, stdin io.Reader, say func(string)) (string, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(bytesCodec{}))
	echo := &echoServer{}
	srv.RegisterService(&echoDesc, echo)
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(stop)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-stop:
		case <-sig:
		}
		srv.Stop() // closes the listener (removing the socket file) and every connection
	}()
	say("ready")
	if err := srv.Serve(ln); err != nil {
		return "", fmt.Errorf("serve: %w", err)
	}
	return fmt.Sprintf("ok calls=%d", echo.calls.Load()), nil
}

// ping makes warmup+iters sequential echo calls and times the last iters,
// each from before its request is sent to its response in hand, as the
// framebridge call-ping peers do: the payload is filled before the clock
// starts and the echo is checked after it stops.
func ping(path string, iters, warmup, size int, say func(string)) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	conn, err := grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(bytesCodec{})))
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	defer conn.Close()
	if err := waitReady(conn, 10*time.Second); err != nil {
		return "", err
	}
	say("ready")
	ctx := context.Background()
	req := &frame{b: make([]byte, size)}
	resp := new(frame)
	samples := make([]int64, iters)
	for i := -warmup; i < iters; i++ {
		n := uint64(i + warmup) // call index, counted from the first warm-up call
		fill(req.b, n)
		start := time.Now()
		if err := conn.Invoke(ctx, echoMethod, req, resp); err != nil {
			return "", fmt.Errorf("call %d: %w", n, err)
		}
		took := time.Since(start)
		if !bytes.Equal(resp.b, req.b) {
			return "", fmt.Errorf("call %d: response of %d bytes differs from the request of %d", n, len(resp.b), len(req.b))
		}
		if i >= 0 {
			samples[i] = int64(took)
		}
	}
	slices.Sort(samples)
	return fmt.Sprintf("ok p50_ns=%d p99_ns=%d iters=%d", percentile(samples, 50), percentile(samples, 99), iters), nil
}

// waitReady connects now rather than on the first call, so that the
// connection set-up is not part of any timed call.
func waitReady(conn *grpc.ClientConn, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure: // the server is up before we start: no point retrying
			return fmt.Errorf("cannot connect to %s (state %v)", conn.Target(), s)
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("not connected within %v (state %v)", limit, s)
		}
	}
}

// fill writes the payload of call n as the peers' call commands do
// (docs/peers.md): bytes 0..7 = n, byte k = (n + k) & 0xFF after that.
func fill(b []byte, n uint64) {
	binary.LittleEndian.PutUint64(b, n)
	for k := 8; k < len(b); k++ {
		b[k] = byte(n + uint64(k))
	}
}

// percentile is the nearest-rank q-th percentile of sorted samples, as
// internal/bench computes it.
func percentile(sorted []int64, q int) int64 {
	rank := (q*len(sorted) + 99) / 100
	return sorted[max(0, min(rank-1, len(sorted)-1))]
}
