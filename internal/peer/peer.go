package peer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"time"

	"github.com/framebridge/framebridge/shm"
)

// Run executes one peer command (args[0]) and returns the exit code: 0 ok,
// 1 a failed check, 2 a usage error.
func Run(args []string, stdout, stderr io.Writer) int {
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: peer write|read|echo|ping|stream-write|stream-read|typed-write|typed-read|typed-echo|typed-ping|serve|call|call-script|call-ping|call-torture [flags] (see docs/peers.md)")
		return 2
	}
	if IsChannelCommand(args[0]) {
		return RunChannel(args, out, stderr)
	}
	p := &peerRun{out: out}
	fs := flag.NewFlagSet("peer "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&p.segment, "segment", "", "segment name")
	fs.StringVar(&p.ring, "ring", "", "ring name")
	fs.StringVar(&p.in, "in", "", "ring to read (echo, ping)")
	fs.StringVar(&p.outRing, "out", "", "ring to write (echo, ping)")
	fs.Uint64Var(&p.count, "count", 0, "frames")
	size := fs.String("size", "64", "payload size S or MIN:MAX")
	fs.UintVar(&p.writer, "writer", 0, "writer id")
	fs.UintVar(&p.writers, "writers", 1, "number of writers to expect")
	spin := fs.Int("spin-us", -1, "spin budget in µs (0: always sleep; default: library default)")
	fs.IntVar(&p.pauseUS, "pause-us", 0, "random pauses of up to this many µs, 1 frame in 64")
	fs.Int64Var(&p.seed, "seed", 1, "PRNG seed for pauses")
	fs.Int64Var(&p.holdAt, "hold-at", -1, "claim this frame, fill half, and wait to be killed")
	fs.IntVar(&p.releaseEvery, "release-every", 16, "release after this many frames")
	fs.IntVar(&p.iters, "iters", 10000, "timed round trips")
	fs.IntVar(&p.warmup, "warmup", 1000, "untimed round trips")
	fs.StringVar(&p.format, "format", "fbs", "typed frames: fbs or capnp")
	fs.StringVar(&p.payload, "payload", "model", "typed-ping request: model or minimal")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	if p.sizes, err = ParseSizes(*size); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *spin >= 0 {
		p.opts = append(p.opts, shm.Spin(time.Duration(*spin)*time.Microsecond))
	}
	if p.segment == "" {
		fmt.Fprintln(stderr, "peer: --segment is required")
		return 2
	}
	p.rng = rand.New(rand.NewSource(p.seed))
	cmds := map[string]func() error{
		"write": p.write, "read": p.read, "echo": p.echo, "ping": p.ping,
		"stream-write": p.streamWrite, "stream-read": p.streamRead,
		"typed-write": p.typedWrite, "typed-read": p.typedRead, "typed-echo": p.typedEcho, "typed-ping": p.typedPing,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "peer: unknown command %q\n", args[0])
		return 2
	}
	if err := cmd(); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, "peer:", err)
			return 2
		}
		fmt.Fprintf(out, "FAIL: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

type peerRun struct {
	out          *bufio.Writer
	segment      string
	ring         string
	in, outRing  string
	count        uint64
	sizes        Sizes
	writer       uint
	writers      uint
	opts         []shm.Option
	pauseUS      int
	seed         int64
	holdAt       int64
	releaseEvery int
	iters        int
	warmup       int
	format       string // typed-*: fbs or capnp
	payload      string // typed-ping: model or minimal
	rng          *rand.Rand
	seg          *shm.Segment
}

func (p *peerRun) say(format string, a ...any) {
	fmt.Fprintf(p.out, format+"\n", a...)
	p.out.Flush()
}

// readerOn and writerOn check the ring flag, attach the segment (once) and
// take the role with the command's wait options.
func (p *peerRun) readerOn(ring string) (*shm.Reader, error) {
	if err := p.setup(ring); err != nil {
		return nil, err
	}
	return p.seg.Reader(ring, p.opts...)
}

func (p *peerRun) writerOn(ring string) (*shm.Writer, error) {
	if err := p.setup(ring); err != nil {
		return nil, err
	}
	return p.seg.Writer(ring, p.opts...)
}

func (p *peerRun) setup(ring string) error {
	if err := p.need(ring); err != nil {
		return err
	}
	if p.seg != nil {
		return nil
	}
	s, err := shm.Attach(p.segment)
	if err != nil {
		return err
	}
	p.seg = s
	return nil
}

func (p *peerRun) need(names ...string) error {
	for _, n := range names {
		if n == "" {
			return usageError{errors.New("missing ring name flag (--ring, --in or --out)")}
		}
	}
	return nil
}

func (p *peerRun) maybePause() {
	if p.pauseUS > 0 && p.rng.Intn(64) == 0 {
		time.Sleep(time.Duration(p.rng.Intn(p.pauseUS+1)) * time.Microsecond)
	}
}

func (p *peerRun) write() error {
	w, err := p.writerOn(p.ring)
	if err != nil {
		return err
	}
	defer w.Close()
	p.say("ready")
	ctx := context.Background()
	id := uint32(p.writer)
	for i := uint64(0); i < p.count; i++ {
		n := p.sizes.Size(i)
		b, err := w.Claim(ctx, TypeData, n)
		if err != nil {
			return fmt.Errorf("claim frame %d: %w", i, err)
		}
		Fill(b, id, i)
		if int64(i) == p.holdAt {
			clear(b[n/2:]) // a half-written frame: the reader must never deliver it
			p.say("holding %d", i)
			for { // wait to be killed (an empty select would be a runtime deadlock)
				time.Sleep(time.Hour)
			}
		}
		if err := w.Commit(n); err != nil {
			return err
		}
		p.maybePause()
	}
	p.say("ok frames=%d", p.count)
	return nil
}

func (p *peerRun) read() error {
	r, err := p.readerOn(p.ring)
	if err != nil {
		return err
	}
	defer r.Close()
	p.say("ready")
	next := make([]uint64, p.writers)
	ctx := context.Background()
	var bytes uint64
	for got := uint64(0); got < p.count; got++ {
		f, ok, err := r.TryNext()
		if err == nil && !ok {
			// About to wait: hand back what we hold, or a writer waiting
			// for that space and this reader would wait for each other.
			r.Release()
			f, err = r.Next(ctx)
		}
		if err != nil {
			return fmt.Errorf("after %d frames: %w", got, err)
		}
		if f.Type != TypeData {
			return fmt.Errorf("frame %d has type %d, want %d", got, f.Type, TypeData)
		}
		w, i, err := Ident(f.Data)
		if err != nil {
			return err
		}
		if uint(w) >= p.writers {
			return fmt.Errorf("frame %d names writer %d; expected %d writers", got, w, p.writers)
		}
		if i != next[w] {
			return fmt.Errorf("writer %d: got frame %d, want %d (lost or reordered)", w, i, next[w])
		}
		if err := Check(f.Data, w, i); err != nil {
			return err
		}
		next[w]++
		bytes += uint64(len(f.Data))
		if (got+1)%uint64(p.releaseEvery) == 0 {
			r.Release()
		}
		p.maybePause()
	}
	r.Release()
	abandoned := uint64(0)
	if rings, _, err := p.seg.Stats(); err == nil {
		for _, st := range rings {
			if st.Name == p.ring {
				abandoned = st.AbandonedRecords
			}
		}
	}
	p.say("ok frames=%d bytes=%d abandoned=%d", p.count, bytes, abandoned)
	return nil
}

func (p *peerRun) echo() error {
	r, err := p.readerOn(p.in)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := p.writerOn(p.outRing)
	if err != nil {
		return err
	}
	defer w.Close()
	p.say("ready")
	ctx := context.Background()
	for n := 1; ; n++ {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		b, err := w.Claim(ctx, f.Type, len(f.Data))
		if err != nil {
			return err
		}
		copy(b, f.Data)
		typ := f.Type
		// Commit before Release: zeroing the consumed record (Release) would
		// otherwise sit on the round trip's critical path.
		if err := w.Commit(len(b)); err != nil {
			return err
		}
		r.Release()
		if typ == TypeStop {
			p.say("ok frames=%d", n)
			return nil
		}
	}
}

func (p *peerRun) ping() error {
	w, err := p.writerOn(p.outRing)
	if err != nil {
		return err
	}
	defer w.Close()
	r, err := p.readerOn(p.in)
	if err != nil {
		return err
	}
	defer r.Close()
	p.say("ready")
	ctx := context.Background()
	size := p.sizes.Min
	samples := make([]int64, p.iters)
	roundTrip := func(i uint64, typ uint32) (time.Duration, error) {
		start := time.Now()
		b, err := w.Claim(ctx, typ, size)
		if err != nil {
			return 0, err
		}
		binary.LittleEndian.PutUint32(b[0:4], 0)
		binary.LittleEndian.PutUint64(b[4:12], i)
		if err := w.Commit(size); err != nil {
			return 0, err
		}
		f, err := r.Next(ctx)
		if err != nil {
			return 0, err
		}
		d := time.Since(start)
		_, got, err := Ident(f.Data)
		if err == nil && (got != i || len(f.Data) != size || f.Type != typ) {
			err = fmt.Errorf("echo of round trip %d came back as %d (%d bytes, type %d)", i, got, len(f.Data), f.Type)
		}
		r.Release()
		return d, err
	}
	for i := 0; i < p.warmup+p.iters; i++ {
		d, err := roundTrip(uint64(i), TypeData)
		if err != nil {
			return err
		}
		if i >= p.warmup {
			samples[i-p.warmup] = int64(d)
		}
	}
	if _, err := roundTrip(uint64(p.warmup+p.iters), TypeStop); err != nil {
		return err
	}
	slices.Sort(samples)
	p.say("ok p50_ns=%d p99_ns=%d iters=%d", Percentile(samples, 50), Percentile(samples, 99), p.iters)
	return nil
}

// Percentile returns the q-th percentile of sorted samples (nearest rank).
func Percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (p *peerRun) streamWrite() error {
	w, err := p.writerOn(p.ring)
	if err != nil {
		return err
	}
	defer w.Close()
	p.say("ready")
	ctx := context.Background()
	size := p.sizes.Min
	if size < 16 {
		return usageError{errors.New("stream frames need at least 16 bytes")}
	}
	for i := uint64(0); i < p.count; i++ {
		b, err := w.Claim(ctx, TypeData, size)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b[0:8], i)
		binary.LittleEndian.PutUint64(b[8:16], uint64(size))
		if err := w.Commit(size); err != nil {
			return err
		}
	}
	if _, err := w.Claim(ctx, TypeStop, 16); err != nil {
		return err
	}
	if err := w.Commit(16); err != nil {
		return err
	}
	p.say("ok frames=%d", p.count)
	return nil
}

func (p *peerRun) streamRead() error {
	r, err := p.readerOn(p.ring)
	if err != nil {
		return err
	}
	defer r.Close()
	// Release in batches, but at least every quarter ring: a reader that has
	// read a whole ring's worth without releasing must not poll on (the
	// records ahead of it would be its own unreleased ones).
	releaseBytes := uint64(1 << 20)
	if rings, _, err := p.seg.Stats(); err == nil {
		for _, st := range rings {
			if st.Name == p.ring {
				releaseBytes = st.Capacity / 4
			}
		}
	}
	p.say("ready")
	ctx := context.Background()
	var frames, bytes uint64
	var start time.Time
	pending, pendingBytes := 0, uint64(0)
	for {
		f, ok, err := r.TryNext()
		if err != nil {
			return err
		}
		if !ok {
			r.Release()
			pending, pendingBytes = 0, 0
			if f, err = r.Next(ctx); err != nil {
				return err
			}
		}
		if frames == 0 {
			start = time.Now()
		}
		if f.Type == TypeStop {
			elapsed := time.Since(start)
			r.Release()
			p.say("ok frames=%d bytes=%d ns=%d", frames, bytes, elapsed.Nanoseconds())
			return nil
		}
		if len(f.Data) < 16 || binary.LittleEndian.Uint64(f.Data[0:8]) != frames {
			return fmt.Errorf("stream frame %d out of order or short (%d bytes)", frames, len(f.Data))
		}
		frames++
		bytes += uint64(len(f.Data))
		pendingBytes += uint64(len(f.Data)) + shm.RecordHeaderLength
		if pending++; pending == 256 || pendingBytes >= releaseBytes {
			r.Release()
			pending, pendingBytes = 0, 0
		}
	}
}
