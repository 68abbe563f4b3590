// Command demo streams frames between two Go processes through a named
// framebridge segment and prints one-way latency percentiles and throughput.
// Run it with `make demo` (or `go run ./examples/demo`).
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/framebridge/framebridge/shm"
)

const (
	latencyFrames = 200_000
	latencySize   = 256
	floodFrames   = 5_000_000
	floodSize     = 64
	bigFrames     = 50_000
	bigSize       = 64 << 10
	typeLatency   = 1
	typeFlood     = 2
	typeStop      = 3
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "consumer" {
		if err := consume(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "consumer:", err)
			os.Exit(1)
		}
		return
	}
	if err := produce(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func produce() error {
	name := fmt.Sprintf("framebridge-demo-%d", os.Getpid())
	seg, err := shm.Create(name, shm.Spec{Rings: []shm.RingSpec{{Name: "frames", Kind: shm.SPSC, Capacity: 4 << 20}}})
	if err != nil {
		return err
	}
	defer seg.Unlink()
	defer seg.Close()
	fmt.Printf("segment /dev/shm/%s: one SPSC ring of 4 MiB\n", name)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	consumer := exec.Command(self, "consumer", name)
	consumer.Stdout, consumer.Stderr = os.Stdout, os.Stderr
	if err := consumer.Start(); err != nil {
		return err
	}
	if err := waitForReader(seg, 10*time.Second); err != nil {
		consumer.Process.Kill()
		return err
	}
	fmt.Printf("consumer process pid %d attached by name\n\n", consumer.Process.Pid)

	w, err := seg.Writer("frames")
	if err != nil {
		return err
	}
	defer w.Close()
	ctx := context.Background()

	// Latency: frames carry their send time; one every 5 µs, so the reader
	// is waiting for each (spinning, then asleep if the gap were long).
	for i := 0; i < latencyFrames; i++ {
		b, err := w.Claim(ctx, typeLatency, latencySize)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
		w.Commit(latencySize)
		for until := time.Now().Add(5 * time.Microsecond); time.Now().Before(until); {
		}
	}
	// Throughput: as fast as the ring goes.
	for _, phase := range []struct{ n, size int }{{floodFrames, floodSize}, {bigFrames, bigSize}} {
		for i := 0; i < phase.n; i++ {
			b, err := w.Claim(ctx, typeFlood, phase.size)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(b, uint64(i))
			w.Commit(phase.size)
		}
	}
	if err := w.Write(ctx, typeStop, nil); err != nil {
		return err
	}
	if err := consumer.Wait(); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	rings, _, _ := seg.Stats()
	st := rings[0]
	fmt.Printf("\nring counters: %d frames, %d bytes written; reader slept %d times, writer woke it %d times, %d full stalls\n",
		st.FramesWritten, st.BytesWritten, st.ReaderWaits, st.WriterWakes, st.FullStalls)
	return nil
}

// waitForReader polls the ring's attachments until the consumer holds the
// reader role, so that latency samples measure the ring, not start-up.
func waitForReader(seg *shm.Segment, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		rings, _, err := seg.Stats()
		if err != nil {
			return err
		}
		for _, a := range rings[0].Attached {
			if a.Role == "reader" && a.Alive {
				return nil
			}
		}
	}
	return fmt.Errorf("no consumer attached within %v", limit)
}

func consume(name string) error {
	seg, err := shm.Attach(name)
	if err != nil {
		return err
	}
	defer seg.Close()
	r, err := seg.Reader("frames")
	if err != nil {
		return err
	}
	defer r.Close()
	ctx := context.Background()
	lat := make([]int64, 0, latencyFrames)
	var phaseStart time.Time
	var phaseFrames, phaseBytes int
	report := func() {
		if phaseFrames == 0 {
			return
		}
		d := time.Since(phaseStart)
		size := phaseBytes / phaseFrames
		fmt.Printf("throughput %6d B frames: %6.2f M frames/s  %6.2f GB/s  (%d frames in %v)\n",
			size, float64(phaseFrames)/d.Seconds()/1e6, float64(phaseBytes)/d.Seconds()/1e9, phaseFrames, d.Round(time.Millisecond))
		phaseFrames, phaseBytes = 0, 0
	}
	for n := 0; ; n++ {
		f, ok, err := r.TryNext()
		if err == nil && !ok {
			r.Release()
			f, err = r.Next(ctx)
		}
		if err != nil {
			return err
		}
		switch f.Type {
		case typeLatency:
			lat = append(lat, time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(f.Data)))
		case typeFlood:
			if i := binary.LittleEndian.Uint64(f.Data); i == 0 {
				report()
				phaseStart = time.Now()
			}
			phaseFrames++
			phaseBytes += len(f.Data)
		case typeStop:
			report()
			r.Release()
			return nil
		}
		if n%256 == 0 {
			r.Release()
		}
		if len(lat) == latencyFrames && f.Type == typeLatency {
			slices.Sort(lat)
			q := func(p float64) time.Duration { return time.Duration(lat[int(p*float64(len(lat)-1))]) }
			fmt.Printf("one-way latency, %d B frames, %d samples: p50 %v  p90 %v  p99 %v  p99.9 %v\n",
				latencySize, len(lat), q(0.50), q(0.90), q(0.99), q(0.999))
		}
	}
}
