package main

import (
	"os"

	"github.com/framebridge/framebridge/internal/peer"
)

func init() {
	commands["peer"] = command{
		summary: "run the Go test/bench peer (write, read, echo, ping, stream-write, stream-read; see docs/peers.md)",
		run:     func(args []string) int { return peer.Run(args, os.Stdout, os.Stderr) },
	}
}
