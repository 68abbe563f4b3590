package channel_test

import (
	"os"
	"testing"

	"github.com/framebridge/framebridge/internal/shmtest"
)

func TestMain(m *testing.M) {
	shmtest.RunChild(nil) // re-executed as a peer (serve, call-torture, ...)
	os.Exit(m.Run())
}
