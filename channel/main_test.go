package channel_test

import (
	"os"
	"testing"

	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/internal/shmtest"
)

func TestMain(m *testing.M) {
	// Re-executed as a peer: the peer commands, plus "held" which runs one
	// with a standard input that never ends (serve stops at end of input).
	children := map[string]func([]string) int{
		"held": func(args []string) int {
			r, w, err := os.Pipe()
			if err != nil {
				return 1
			}
			defer w.Close()
			os.Stdin = r
			return peer.Run(args[1:], os.Stdout, os.Stderr)
		},
	}
	for name, f := range pidfdChildren {
		children[name] = f
	}
	shmtest.RunChild(children)
	os.Exit(m.Run())
}
