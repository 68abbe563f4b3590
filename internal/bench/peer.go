package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// The bench's own peers (floor and socket baselines) run as
// `framebridge bench peer KIND [flags]`, an undocumented entry point the
// driver uses; they follow the conventions of docs/peers.md (a `ready` line,
// a final `ok ...` line, FAIL: and exit 1 on failure, exit 2 on bad usage).

// PeerKinds lists the kinds RunPeer accepts.
var PeerKinds = []string{
	"floor-server", "floor-client", "floor-stream-write", "floor-stream-read",
	"sock-server", "sock-client",
}

type usageError string

func (e usageError) Error() string { return string(e) }

func usageErr(s string) error { return usageError(s) }

var peerOut io.Writer = os.Stdout

// say prints one protocol line at once (unbuffered: the driver waits for it).
func say(line string) { fmt.Fprintln(peerOut, line) }

// RunPeer runs one bench peer and returns its exit code.
func RunPeer(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: framebridge bench peer KIND [flags]; kinds: %v\n", PeerKinds)
		return 2
	}
	peerOut = stdout
	fs := flag.NewFlagSet("bench peer "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("path", "", "floor: object under /dev/shm")
	mode := fs.String("mode", "spin", "floor round trip: spin or futex")
	network := fs.String("net", "unix", "socket: unix or tcp")
	addr := fs.String("addr", "", "socket: path or host:port")
	size := fs.Int("size", 64, "payload bytes")
	iters := fs.Int("iters", 10000, "timed round trips")
	warmup := fs.Int("warmup", 1000, "untimed round trips")
	count := fs.Uint64("count", 1000000, "frames (floor-stream)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *size < 8 || *iters < 1 || *warmup < 0 {
		fmt.Fprintln(stderr, "bench peer: want --size >= 8, --iters >= 1, --warmup >= 0")
		return 2
	}
	var line string
	var err error
	switch args[0] {
	case "floor-server":
		line, err = floorServer(*path, *mode)
	case "floor-client":
		line, err = floorClient(*path, *mode, *iters, *warmup)
	case "floor-stream-write":
		line, err = floorStreamWrite(*path, *size, *count)
	case "floor-stream-read":
		line, err = floorStreamRead(*path, *size, *count)
	case "sock-server":
		line, err = sockServer(*network, *addr, *size)
	case "sock-client":
		line, err = sockClient(*network, *addr, *size, *iters, *warmup)
	default:
		fmt.Fprintf(stderr, "bench peer: unknown kind %q; kinds: %v\n", args[0], PeerKinds)
		return 2
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, "bench peer:", err)
			return 2
		}
		say("FAIL: " + err.Error())
		return 1
	}
	say(line)
	return 0
}
