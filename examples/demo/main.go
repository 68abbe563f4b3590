// Command demo is the model user's chain on one host: a Go gateway calls a
// C++ codec service (examples/codec-server) with audio chunks and a Java model
// service (examples/model-server) with the features it computes from the
// codec's output, through framebridge channels, and prints per-hop latency
// percentiles. Run it with `make demo`, which builds the two servers first.
//
//	go run ./examples/demo --codec bin/codec-server --model-jar java/target/framebridge-0.1.0-SNAPSHOT-peer.jar
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

const (
	sampleRate = 48_000
	channels   = 2
	chunkNanos = 20_000_000                                              // 20 ms of audio per chunk
	samples    = sampleRate * channels * (chunkNanos / 1_000_000) / 1000 // 1,920 interleaved samples
	features   = 256
)

func main() {
	codec := flag.String("codec", "bin/codec-server", "the C++ codec server binary")
	modelJar := flag.String("model-jar", "", "the framebridge jar with its dependencies (java/target/framebridge-*-peer.jar); empty: found under java/target")
	modelSrc := flag.String("model-src", "examples/model-server/ModelServer.java", "the Java model server's source (run by the java launcher)")
	iters := flag.Int("iters", 20_000, "timed requests")
	warmup := flag.Int("warmup", 20_000, "untimed requests first (the JVM compiles its hot code)")
	flag.Parse()
	if err := run(*codec, *modelJar, *modelSrc, *iters, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(codecBin, jar, modelSrc string, iters, warmup int) error {
	if jar == "" {
		jars, _ := filepath.Glob("java/target/framebridge-*-peer.jar")
		if len(jars) == 0 {
			return errors.New("no java/target/framebridge-*-peer.jar: run `make build` first, or pass --model-jar")
		}
		jar = jars[0]
	}
	dir, err := os.MkdirTemp("", "framebridge-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	codecSock, modelSock := filepath.Join(dir, "codec.sock"), filepath.Join(dir, "model.sock")

	stopCodec, err := startServer("C++ codec service", exec.Command(codecBin, codecSock))
	if err != nil {
		return err
	}
	defer stopCodec()
	stopModel, err := startServer("Java model service", exec.Command("java", "-cp", jar, modelSrc, modelSock))
	if err != nil {
		return err
	}
	defer stopModel()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	codec, err := channel.Dial(ctx, codecSock, channel.DialOptions{ResponseRingBytes: 1 << 20})
	if err != nil {
		return fmt.Errorf("dial the codec service: %w", err)
	}
	defer codec.Close()
	model, err := channel.Dial(ctx, modelSock, channel.DialOptions{})
	if err != nil {
		return fmt.Errorf("dial the model service: %w", err)
	}
	defer model.Close()
	fmt.Printf("gateway (Go, pid %d) connected: codec generation %d, model generation %d\n\n",
		os.Getpid(), codec.Generation(), model.Generation())

	g := newGateway(codec, model)
	for i := 0; i < warmup; i++ {
		if err := g.handle(i, hopCodec|hopModel); err != nil {
			return fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	fmt.Printf("each request: 20 ms of 48 kHz stereo PCM (%d B) -> C++ codec (s16 -> f32, %d B back)\n", samples*2, samples*4)
	fmt.Printf("              -> %d features -> Java model (ModelRequest -> ModelResponse, 2 scores)\n\n", features)
	fmt.Printf("%-44s %9s %9s %9s %9s\n", "call round trip, "+fmt.Sprint(iters)+" requests", "p50", "p90", "p99", "p99.9")
	// Each hop alone (two busy processes), then the whole chain (three).
	for _, phase := range []struct {
		name string
		mode int
	}{{"Go -> C++ codec -> Go", hopCodec}, {"Go -> Java model -> Go", hopModel}, {"whole chain: codec, then model", hopCodec | hopModel}} {
		g.totalNs = g.totalNs[:0]
		g.lastSeq = uint64(warmup + iters - 1)
		start := time.Now()
		for i := 0; i < iters; i++ {
			if err := g.handle(warmup+i, phase.mode); err != nil {
				return fmt.Errorf("request %d: %w", warmup+i, err)
			}
		}
		elapsed := time.Since(start)
		row(phase.name, g.totalNs, float64(iters)/elapsed.Seconds())
	}
	fmt.Printf("\nlast scores %.3f/%.3f (%s)\n", g.lastScores[0], g.lastScores[1], g.lastLabel)
	fmt.Println("\nA service spins for 50 µs after its last request, then sleeps on a futex at no CPU cost; a call")
	fmt.Println("that finds it asleep pays one wake-up (about 30 µs: docs/benchmarks.md, \"block\" rows). In the")
	fmt.Println("whole chain three processes spin: on a host with fewer free cores they take turns on them.")
	return nil
}

// startServer starts a server process and waits for its "listening" line.
// The returned function ends it by closing its standard input.
func startServer(what string, cmd *exec.Cmd) (stop func(), err error) {
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s (%s): %w; run `make build` first", what, cmd.Path, err)
	}
	lines := bufio.NewScanner(out)
	ready := make(chan bool, 1)
	go func() { ready <- lines.Scan() && strings.HasPrefix(lines.Text(), "listening") }()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("the %s did not start (see its error above)", what)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the %s did not print \"listening\" within 30 s", what)
	}
	fmt.Printf("%s: pid %d\n", what, cmd.Process.Pid)
	return func() { in.Close(); cmd.Wait() }, nil
}

// gateway holds what one request needs, reused so the steady state does not
// allocate: the audio chunk, the features, and the build/read callbacks.
type gateway struct {
	codec, model *channel.Client
	pcm          []byte   // the chunk being sent
	tones        [][]byte // 50 chunks of a 440 Hz tone, one per loudness, made once
	feat         []byte   // features little-endian float32
	seq, lastSeq uint64
	codecErr     error
	lastScores   [2]float32
	lastLabel    string

	codecReq, modelReq   channel.Request
	readCodec, readModel func(*fb.Envelope) error
	totalNs              []int64

	chunk fb.MediaChunk
	raw   fb.ModelResponse
}

func newGateway(codec, model *channel.Client) *gateway {
	g := &gateway{codec: codec, model: model, feat: make([]byte, features*4)}
	// Made up front: a gateway hands on audio it received, it does not
	// synthesise it, and a slow loop here would let the services fall
	// asleep between calls (see the note printed at the end).
	for v := 0; v < 50; v++ {
		amp := 1000 + float64(v)*500
		pcm := make([]byte, samples*2)
		for k := 0; k < samples; k++ {
			t := float64(k/channels) / sampleRate
			binary.LittleEndian.PutUint16(pcm[2*k:], uint16(int16(amp*math.Sin(2*math.Pi*440*t+float64(v)))))
		}
		g.tones = append(g.tones, pcm)
	}
	g.codecReq.Build = g.buildChunk
	g.modelReq.Build = g.buildFeatures
	g.readCodec = g.readPCM
	g.readModel = g.readScores
	return g
}

const (
	hopCodec = 1 << iota
	hopModel
)

// handle makes the calls of one request (the hops in mode); the model call
// sends the features of the codec's last answer.
func (g *gateway) handle(i, mode int) error {
	g.pcm = g.tones[i%len(g.tones)] // loudness changes per request
	g.seq = uint64(i)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	t0 := time.Now()
	if mode&hopCodec != 0 {
		if err := g.codec.Call(ctx, &g.codecReq, g.readCodec); err != nil {
			return fmt.Errorf("codec: %w", err)
		}
	}
	if mode&hopModel != 0 {
		if err := g.model.Call(ctx, &g.modelReq, g.readModel); err != nil {
			return fmt.Errorf("model: %w", err)
		}
	}
	g.totalNs = append(g.totalNs, time.Since(t0).Nanoseconds())
	return nil
}

// buildChunk builds the MediaChunk in place in the codec's request ring.
func (g *gateway) buildChunk(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) {
	data := b.CreateByteVector(g.pcm)
	name := b.CreateString("pcm_s16le")
	fb.MediaChunkStart(b)
	fb.MediaChunkAddCodec(b, name)
	fb.MediaChunkAddFormat(b, fb.MediaFormatPcmS16le)
	fb.MediaChunkAddPtsNs(b, int64(g.seq)*chunkNanos)
	fb.MediaChunkAddDtsNs(b, int64(g.seq)*chunkNanos)
	fb.MediaChunkAddDurationNs(b, chunkNanos)
	fb.MediaChunkAddSampleRate(b, sampleRate)
	fb.MediaChunkAddChannels(b, channels)
	fb.MediaChunkAddData(b, data)
	return fb.PayloadMediaChunk, fb.MediaChunkEnd(b)
}

// readPCM reads the codec's float samples in place and reduces them to
// features: the mean absolute amplitude of 256 consecutive slices.
func (g *gateway) readPCM(env *fb.Envelope) error {
	var tbl flatbuffers.Table
	if !env.Payload(&tbl) || env.PayloadType() != fb.PayloadMediaChunk {
		return errors.New("codec answered without a MediaChunk")
	}
	g.chunk.Init(tbl.Bytes, tbl.Pos)
	if g.chunk.Format() != fb.MediaFormatPcmF32le {
		return fmt.Errorf("codec answered format %v, want PcmF32le", g.chunk.Format())
	}
	f32 := g.chunk.DataBytes()
	if len(f32) != samples*4 {
		return fmt.Errorf("codec answered %d bytes, want %d", len(f32), samples*4)
	}
	per := samples / features
	for j := 0; j < features; j++ {
		var sum float32
		for k := j * per; k < (j+1)*per; k++ {
			sum += float32(math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(f32[4*k:])))))
		}
		binary.LittleEndian.PutUint32(g.feat[4*j:], math.Float32bits(sum/float32(per)))
	}
	return nil
}

// buildFeatures builds the ModelRequest, tensor and all, in place in the
// model's request ring.
func (g *gateway) buildFeatures(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) {
	b.StartVector(1, len(g.feat), 16) // the schema's force_align: 16 on Tensor.data
	for i := len(g.feat) - 1; i >= 0; i-- {
		b.PrependByte(g.feat[i])
	}
	data := b.EndVector(len(g.feat))
	fb.TensorStartShapeVector(b, 2)
	b.PrependInt64(features)
	b.PrependInt64(1)
	shape := b.EndVector(2)
	fb.TensorStart(b)
	fb.TensorAddDtype(b, fb.DTypeFloat32)
	fb.TensorAddShape(b, shape)
	fb.TensorAddData(b, data)
	tensor := fb.TensorEnd(b)
	name, version := b.CreateString("loudness"), b.CreateString("v1")
	fb.ModelRequestStart(b)
	fb.ModelRequestAddModelName(b, name)
	fb.ModelRequestAddModelVersion(b, version)
	fb.ModelRequestAddFeatures(b, tensor)
	return fb.PayloadModelRequest, fb.ModelRequestEnd(b)
}

func (g *gateway) readScores(env *fb.Envelope) error {
	var tbl flatbuffers.Table
	if !env.Payload(&tbl) || env.PayloadType() != fb.PayloadModelResponse {
		return errors.New("model answered without a ModelResponse")
	}
	g.raw.Init(tbl.Bytes, tbl.Pos)
	if g.raw.ScoresLength() != 2 || g.raw.LabelsLength() != 2 {
		return fmt.Errorf("model answered %d scores and %d labels, want 2 and 2", g.raw.ScoresLength(), g.raw.LabelsLength())
	}
	g.lastScores = [2]float32{g.raw.Scores(0), g.raw.Scores(1)}
	if g.seq == g.lastSeq { // copy a label out of the ring only for the final print
		g.lastLabel = string(g.raw.Labels(0)) + "/" + string(g.raw.Labels(1))
	}
	return nil
}

func row(name string, ns []int64, perSecond float64) {
	s := slices.Clone(ns)
	slices.Sort(s)
	q := func(p float64) string {
		return fmt.Sprintf("%.1f µs", float64(s[int(p*float64(len(s)-1))])/1e3)
	}
	fmt.Printf("%-44s %9s %9s %9s %9s   %6.0f/s\n", name, q(0.50), q(0.90), q(0.99), q(0.999), perSecond)
}
