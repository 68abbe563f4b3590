package shm_test

import (
	"os"
	"testing"

	"github.com/framebridge/framebridge/internal/shmtest"
)

// TestMain lets the test binary double as the peer program: tests with real
// processes re-execute it (shmtest.Start) with a peer command line
// (docs/peers.md) or one of the test-only commands below.
func TestMain(m *testing.M) {
	shmtest.RunChild(map[string]func(args []string) int{
		"hold-segment":   holdSegment,
		"scribble":       scribble,
		"tolerant-write": tolerantWrite,
		"tolerant-read":  tolerantRead,
		"full-shm":       createOnFullShm,
	})
	os.Exit(m.Run())
}
