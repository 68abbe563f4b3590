package xlang

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/shm"
)

// typedSupport caches whether a language's peer implements the typed-*
// commands of docs/peers.md: a peer that does not know a command exits 2
// (usage), one that does fails to attach to a missing segment (exit 1).
var typedSupport sync.Map

func supportsTyped(t *testing.T, l language, format string) bool {
	t.Helper()
	key := l.name + "/" + format
	if v, ok := typedSupport.Load(key); ok {
		return v.(bool)
	}
	cmd := l.command("typed-write", "--segment", "fbx-no-such-segment", "--ring", "r", "--count", "0", "--format", format)
	err := cmd.Run()
	var ee *exec.ExitError
	ok := !(errors.As(err, &ee) && ee.ExitCode() == 2)
	typedSupport.Store(key, ok)
	return ok
}

func typedUsable(t *testing.T, l language, format string) bool {
	t.Helper()
	if !usable(t, l) {
		return false
	}
	if !supportsTyped(t, l, format) {
		t.Skipf("%s peer does not implement the typed-* commands (--format %s) yet", l.name, format)
		return false
	}
	return true
}

// TestMatrixTyped: envelopes written in each language are verified and
// checked field by field in every language (writer_reader), through a real
// ring between real processes: FlatBuffers for go, cpp and java; Cap'n Proto
// for go and cpp. Then a typed request/response exchange per pair.
func TestMatrixTyped(t *testing.T) {
	langs := languages(t)
	for _, format := range []string{"fbs", "capnp"} {
		t.Run(format, func(t *testing.T) {
			for _, w := range langs {
				for _, r := range langs {
					if format == "capnp" && (w.name == "java" || r.name == "java") {
						continue // no Cap'n Proto for Java (DESIGN.md)
					}
					t.Run(w.name+"_"+r.name, func(t *testing.T) {
						if !typedUsable(t, w, format) || !typedUsable(t, r, format) {
							return
						}
						t.Run("envelopes from two writers arrive verified, in order, field by field", func(t *testing.T) {
							n := frames(200_000, 3_000)
							seg := newSegment(t, shm.MPSC, 1<<18)
							ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
							defer cancel()
							rd := start(t, ctx, r, "typed-read", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(2*n), "--writers", "2", "--format", format)
							w0 := start(t, ctx, w, "typed-write", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--writer", "0", "--format", format)
							w1 := start(t, ctx, w, "typed-write", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--writer", "1", "--format", format)
							w0.expect(t, ctx, "ok")
							w1.expect(t, ctx, "ok")
							line := rd.expect(t, ctx, "ok")
							if field(line, "frames") != fmt.Sprint(2*n) {
								t.Fatalf("reader: %s", line)
							}
						})
						t.Run("typed ping against typed echo", func(t *testing.T) {
							seg := newTwoRingSegment(t)
							ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
							defer cancel()
							for _, payload := range []string{"minimal", "model"} {
								echo := start(t, ctx, r, "typed-echo", "--segment", seg, "--in", "req", "--out", "resp", "--format", format)
								ping := start(t, ctx, w, "typed-ping", "--segment", seg, "--out", "req", "--in", "resp", "--iters", "500", "--warmup", "100", "--payload", payload, "--format", format)
								line := ping.expect(t, ctx, "ok")
								echo.expect(t, ctx, "ok")
								t.Logf("%s: %s", payload, line)
								waitExit(t, ctx, echo, ping)
							}
						})
					})
				}
			}
		})
	}
}

func waitExit(t *testing.T, ctx context.Context, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		select {
		case <-p.done:
			p.done <- nil // for the cleanup's receive
		case <-ctx.Done():
			t.Fatalf("%s did not exit", p.name)
		}
	}
}

func newTwoRingSegment(t *testing.T) string {
	t.Helper()
	name := newSegmentName(t)
	seg, err := shm.Create(name, shm.Spec{Rings: []shm.RingSpec{
		{Name: "req", Kind: shm.SPSC, Capacity: 1 << 16},
		{Name: "resp", Kind: shm.SPSC, Capacity: 1 << 16},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close(); seg.Unlink() })
	return name
}

func newSegmentName(t *testing.T) string {
	name := fmt.Sprintf("fbx-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
	if len(name) > shm.MaxNameLength {
		name = name[:shm.MaxNameLength]
	}
	shm.Remove(name)
	return name
}
