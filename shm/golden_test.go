package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/framebridge/framebridge/shm"
)

// The golden images in schemas/testdata are the cross-language contract in
// bytes: every language's tests attach each image and must read exactly what
// manifest.json says. `go test ./shm -run TestGolden -update` rewrites them.
var update = flag.Bool("update", false, "rewrite the golden segment images in schemas/testdata")

const testdataDir = "../schemas/testdata"

type manifest struct {
	LayoutVersion int           `json:"layout_version"`
	Images        []goldenImage `json:"images"`
}

type goldenImage struct {
	File        string          `json:"file"`
	Description string          `json:"description"`
	AttachError *string         `json:"attach_error"`
	Regions     []goldenRegion  `json:"regions"`
	Rings       []goldenRing    `json:"rings"`
	Mailboxes   []goldenMailbox `json:"mailboxes"`
}

type goldenRegion struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Offset   uint64 `json:"offset"`
	Length   uint64 `json:"length"`
	Capacity uint64 `json:"capacity"`
}

type goldenRing struct {
	Name      string        `json:"name"`
	Head      uint64        `json:"head"`
	Tail      uint64        `json:"tail"`
	Frames    []goldenFrame `json:"frames"`
	Abandoned uint64        `json:"abandoned"`
	End       string        `json:"end"`
}

type goldenFrame struct {
	Type       uint32 `json:"type"`
	Seq        uint64 `json:"seq"`
	PayloadHex string `json:"payload_hex"`
}

type goldenMailbox struct {
	Name       string `json:"name"`
	Version    uint64 `json:"version"`
	Status     int32  `json:"status"`
	PayloadHex string `json:"payload_hex"`
}

// Fixed values patched into images so that they are byte-for-byte reproducible.
const (
	goldenPID     = 4242
	goldenStart   = 1
	goldenCreated = 1_790_000_000_000_000_000
)

func payload(tag string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag[i%len(tag)] + byte(i/len(tag))
	}
	return b
}

// builder makes one image on a memfd segment, then returns its bytes with
// process-specific fields replaced by fixed values.
type builder struct {
	t   *testing.T
	seg *shm.Segment
}

func newBuilder(t *testing.T, spec shm.Spec) *builder {
	seg, err := shm.CreateMemfd("golden", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return &builder{t: t, seg: seg}
}

func (b *builder) write(w *shm.Writer, typ uint32, p []byte) {
	b.t.Helper()
	if err := w.Write(context.Background(), typ, p); err != nil {
		b.t.Fatal(err)
	}
}

func (b *builder) bytes() []byte {
	st, err := os.Stat("/proc/self/fd/" + itoa(b.seg.Fd()))
	if err != nil {
		b.t.Fatal(err)
	}
	img := make([]byte, st.Size())
	// Read through the segment's own descriptor without wrapping it in an
	// os.File: the File's finalizer would close it (or whatever descriptor
	// later reuses its number) at some GC.
	if n, err := syscall.Pread(b.seg.Fd(), img, 0); err != nil || n != len(img) {
		b.t.Fatalf("read segment image: %d of %d bytes: %v", n, len(img), err)
	}
	le := binary.LittleEndian
	le.PutUint32(img[shm.CreatorPIDOffset:], goldenPID)
	le.PutUint64(img[shm.CreatorStartOffset:], goldenStart)
	le.PutUint64(img[shm.CreatedUnixNanoOffset:], goldenCreated)
	for _, r := range b.seg.Header().Regions {
		clearPID := func(off uint64) {
			le.PutUint32(img[off:], 0)   // pid: detached
			le.PutUint64(img[off+8:], 0) // start time
		}
		if r.Kind == shm.KindMailbox {
			clearPID(r.Offset + shm.MailboxWriterOwnerOffset)
			continue
		}
		clearPID(r.Offset + shm.ReaderOwnerOffset)
		for i := uint64(0); i < shm.MaxWriters; i++ {
			clearPID(r.Offset + shm.WriterSlotsOffset + i*shm.WriterSlotLength)
		}
	}
	return img
}

func itoa(i int) string { return fmtInt(int64(i)) }

func fmtInt(v int64) string {
	if v == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	for v > 0 {
		n--
		buf[n] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[n:])
}

func kindString(k uint32) string {
	switch k {
	case shm.KindSPSC:
		return "spsc"
	case shm.KindMPSC:
		return "mpsc"
	}
	return "mailbox"
}

func regionsOf(seg *shm.Segment) []goldenRegion {
	var out []goldenRegion
	for _, r := range seg.Header().Regions {
		out = append(out, goldenRegion{Name: r.Name, Kind: kindString(r.Kind), Offset: r.Offset, Length: r.Length, Capacity: r.Capacity})
	}
	return out
}

func frame(typ uint32, seq uint64, p []byte) goldenFrame {
	return goldenFrame{Type: typ, Seq: seq, PayloadHex: hex.EncodeToString(p)}
}

func ringPositions(t *testing.T, seg *shm.Segment, name string) (head, tail uint64) {
	rings, _, err := seg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rings {
		if r.Name == name {
			return r.Head, r.Tail
		}
	}
	t.Fatalf("no ring %q", name)
	return 0, 0
}

// buildGolden produces every image and its manifest entry.
func buildGolden(t *testing.T) (map[string][]byte, manifest) {
	files := map[string][]byte{}
	m := manifest{LayoutVersion: shm.LayoutVersion}
	add := func(name string, img []byte, entry goldenImage) {
		entry.File = name
		if entry.Rings == nil {
			entry.Rings = []goldenRing{}
		}
		if entry.Mailboxes == nil {
			entry.Mailboxes = []goldenMailbox{}
		}
		files[name] = img
		m.Images = append(m.Images, entry)
	}
	ringSpec := func(kind shm.RingKind) shm.Spec {
		return shm.Spec{Rings: []shm.RingSpec{{Name: "frames", Kind: kind, Capacity: 4096}}}
	}

	{ // empty
		b := newBuilder(t, ringSpec(shm.SPSC))
		add("empty.seg", b.bytes(), goldenImage{
			Description: "one empty SPSC ring of 4096 bytes",
			Regions:     regionsOf(b.seg),
			Rings:       []goldenRing{{Name: "frames", Frames: []goldenFrame{}, End: "empty"}},
		})
	}
	{ // several frames, partial commit included
		b := newBuilder(t, ringSpec(shm.SPSC))
		w, err := b.seg.Writer("frames")
		if err != nil {
			t.Fatal(err)
		}
		var frames []goldenFrame
		for i, n := range []int{0, 1, 7, 8, 24, 100} {
			p := payload("frame", n)
			b.write(w, uint32(10+i), p)
			frames = append(frames, frame(uint32(10+i), uint64(i+1), p))
		}
		buf, _ := w.Claim(context.Background(), 99, 64) // claimed 64, committed 5
		copy(buf, "short")
		if err := w.Commit(5); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame(99, 7, []byte("short")))
		w.Close()
		head, tail := ringPositions(t, b.seg, "frames")
		add("frames.seg", b.bytes(), goldenImage{
			Description: "SPSC ring with 7 committed frames of payload sizes 0,1,7,8,24,100 and a 64-byte claim committed as 5 bytes",
			Regions:     regionsOf(b.seg),
			Rings:       []goldenRing{{Name: "frames", Head: head, Tail: tail, Frames: frames, End: "empty"}},
		})
	}
	{ // wrapped with a padding record
		b := newBuilder(t, ringSpec(shm.SPSC))
		w, _ := b.seg.Writer("frames")
		r, _ := b.seg.Reader("frames")
		for i := 0; i < 3; i++ { // 3 x 1024-byte records, consumed and released
			b.write(w, 1, payload("old", 1000))
			if _, err := r.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		r.Release()
		r.Close()
		// Tail at 3072: a 1000-byte frame needs 1024 bytes and does not fit
		// before 4096, so it is preceded by a 1024-byte padding record.
		var frames []goldenFrame
		p := payload("late", 900)
		b.write(w, 2, p)
		frames = append(frames, frame(2, 4, p))
		p = payload("wrapped", 1000)
		b.write(w, 3, p)
		frames = append(frames, frame(3, 5, p))
		w.Close()
		head, tail := ringPositions(t, b.seg, "frames")
		add("wrapped.seg", b.bytes(), goldenImage{
			Description: "SPSC ring whose reader consumed and released 3 frames (positions 0..3072, now zero); then a 900-byte frame (record 3072..4000) and a 1000-byte frame that does not fit in the last 96 bytes: a 96-byte padding record at 4000, the frame at position 4096 (index 0)",
			Regions:     regionsOf(b.seg),
			Rings:       []goldenRing{{Name: "frames", Head: head, Tail: tail, Frames: frames, End: "empty"}},
		})
	}
	{ // MPSC with a claim abandoned by a dead writer and one in progress
		b := newBuilder(t, ringSpec(shm.MPSC))
		wa, _ := b.seg.Writer("frames")
		wb, _ := b.seg.Writer("frames")
		wc, _ := b.seg.Writer("frames")
		var frames []goldenFrame
		b.write(wa, 1, payload("a0", 40))
		frames = append(frames, frame(1, 1, payload("a0", 40)))
		buf, _ := wb.Claim(context.Background(), 1, 48) // seq 2: abandoned
		copy(buf, "half-written by a writer that died")
		b.write(wa, 1, payload("a1", 16))
		frames = append(frames, frame(1, 3, payload("a1", 16)))
		buf, _ = wc.Claim(context.Background(), 1, 32) // seq 4: in progress, writer alive
		copy(buf, "in progress")
		img := b.bytes()
		// Writer b died and its slot (1) was taken over: epoch 2 != its token's
		// epoch 1. Writer c's slot (2) keeps epoch 1 but names pid 0: no
		// process, so its claim is abandoned too.
		r := b.seg.Header().Regions[0]
		le := binary.LittleEndian
		le.PutUint64(img[r.Offset+shm.WriterSlotsOffset+1*shm.WriterSlotLength:], 2<<32)
		head, tail := ringPositions(t, b.seg, "frames")
		add("mpsc-claims.seg", img, goldenImage{
			Description: "MPSC ring: committed frame (seq 1); a 48-byte claim (seq 2) by writer slot 1 whose slot now has epoch 2 (token epoch 1: dead); committed frame (seq 3); a 32-byte claim (seq 4) by writer slot 2 whose owner word names pid 0 (dead). A reader delivers seq 1 and 3 and turns both claims into padding.",
			Regions:     regionsOf(b.seg),
			Rings:       []goldenRing{{Name: "frames", Head: head, Tail: tail, Frames: frames, Abandoned: 2, End: "empty"}},
		})
	}
	{ // mailbox
		b := newBuilder(t, shm.Spec{Mailboxes: []shm.MailboxSpec{{Name: "state"}}})
		mb, err := b.seg.MailboxWriter("state")
		if err != nil {
			t.Fatal(err)
		}
		mb.Store(1, payload("first value", 200))
		mb.Store(7, []byte("model v2 loaded"))
		mb.Close()
		full := make([]byte, shm.DefaultMailboxCapacity)
		copy(full, "model v2 loaded")
		add("mailbox.seg", b.bytes(), goldenImage{
			Description: "one mailbox of 1024 payload bytes after two stores; the second (status 7) is shorter, so the rest reads as zero",
			Regions:     regionsOf(b.seg),
			Mailboxes:   []goldenMailbox{{Name: "state", Version: 2, Status: 7, PayloadHex: hex.EncodeToString(full)}},
		})
	}
	{ // corrupt record: the second record's size is not a multiple of 8
		b := newBuilder(t, ringSpec(shm.SPSC))
		w, _ := b.seg.Writer("frames")
		b.write(w, 1, payload("ok", 10))
		b.write(w, 1, payload("bad", 10))
		b.write(w, 1, payload("after", 10))
		w.Close()
		img := b.bytes()
		r := b.seg.Header().Regions[0]
		second := r.Offset + shm.RingDataOffset + 40 // first record: align8(24+10) = 40 bytes
		binary.LittleEndian.PutUint32(img[second+shm.RecordSizeOffset:], 44)
		head, tail := ringPositions(t, b.seg, "frames")
		add("corrupt-record.seg", img, goldenImage{
			Description: "SPSC ring of 3 frames whose second record has size 44 (not a multiple of 8): a reader delivers the first frame, then reports corruption and skips to the tail",
			Regions:     regionsOf(b.seg),
			Rings:       []goldenRing{{Name: "frames", Head: head, Tail: tail, Frames: []goldenFrame{frame(1, 1, payload("ok", 10))}, End: "corrupt"}},
		})
	}
	{ // attach errors
		b := newBuilder(t, ringSpec(shm.SPSC))
		img := b.bytes()
		binary.LittleEndian.PutUint32(img[shm.VersionOffset:], 2)
		version := "version"
		add("bad-version.seg", img, goldenImage{Description: "layout version 2: attach fails with a version mismatch", AttachError: &version, Regions: []goldenRegion{}})

		b = newBuilder(t, ringSpec(shm.SPSC))
		img = b.bytes()
		binary.LittleEndian.PutUint64(img[shm.RegionTableOffset+shm.RegionCapacityOffset:], 6000)
		corruptErr := "corrupt"
		add("bad-capacity.seg", img, goldenImage{Description: "ring capacity 6000 (not a power of two): attach fails as corrupt", AttachError: &corruptErr, Regions: []goldenRegion{}})
	}
	return files, m
}

func TestGoldenImages(t *testing.T) {
	files, m := buildGolden(t)
	want, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		for name, img := range files {
			if err := os.WriteFile(filepath.Join(testdataDir, name), img, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(testdataDir, "manifest.json"), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(testdataDir, "manifest.json"))
	if err != nil {
		t.Fatalf("%v (run `make generate`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("schemas/testdata/manifest.json is stale: run `make generate`")
	}
	for name, img := range files {
		disk, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, img) {
			t.Errorf("schemas/testdata/%s differs from what this library writes: the byte layout changed (run `make generate` only if that was intended)", name)
		}
	}
}

// TestGoldenImagesRead attaches every committed image the way a peer in any
// language must, and checks it reads exactly what the manifest says.
func TestGoldenImagesRead(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testdataDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.LayoutVersion != shm.LayoutVersion || len(m.Images) == 0 {
		t.Fatalf("manifest: layout %d with %d images", m.LayoutVersion, len(m.Images))
	}
	for _, img := range m.Images {
		t.Run(img.File, func(t *testing.T) {
			seg := attachCopy(t, filepath.Join(testdataDir, img.File))
			if img.AttachError != nil {
				want := map[string]error{"version": shm.ErrVersionMismatch, "corrupt": shm.ErrCorrupt}[*img.AttachError]
				if seg.err == nil || !errors.Is(seg.err, want) {
					t.Fatalf("attach: got %v, want %v", seg.err, want)
				}
				return
			}
			if seg.err != nil {
				t.Fatal(seg.err)
			}
			if got := regionsOf(seg.Segment); !equalRegions(got, img.Regions) {
				t.Fatalf("regions %+v, want %+v", got, img.Regions)
			}
			for _, want := range img.Rings {
				checkGoldenRing(t, seg.Segment, want)
			}
			for _, want := range img.Mailboxes {
				mb, err := seg.Mailbox(want.Name)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, mb.Capacity())
				snap, err := mb.Load(buf)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Version != want.Version || snap.Status != want.Status || hex.EncodeToString(buf) != want.PayloadHex {
					t.Fatalf("mailbox %q: version %d status %d, want %d %d (payload equal: %v)", want.Name,
						snap.Version, snap.Status, want.Version, want.Status, hex.EncodeToString(buf) == want.PayloadHex)
				}
			}
		})
	}
}

func equalRegions(a, b []goldenRegion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkGoldenRing(t *testing.T, seg *shm.Segment, want goldenRing) {
	head, tail := ringPositions(t, seg, want.Name)
	if head != want.Head || tail != want.Tail {
		t.Fatalf("ring %q: head %d tail %d, want %d %d", want.Name, head, tail, want.Head, want.Tail)
	}
	r, err := seg.Reader(want.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The reader checks a blocking writer's liveness only every 1024 polls.
	next := func() (f shm.Frame, ok bool, err error) {
		for i := 0; i < 4096 && !ok && err == nil; i++ {
			f, ok, err = r.TryNext()
		}
		return
	}
	for i, wf := range want.Frames {
		f, ok, err := next()
		if err != nil || !ok {
			t.Fatalf("ring %q frame %d: ok=%v err=%v", want.Name, i, ok, err)
		}
		if f.Type != wf.Type || f.Seq != wf.Seq || hex.EncodeToString(f.Data) != wf.PayloadHex {
			t.Fatalf("ring %q frame %d: type %d seq %d payload %x, want %+v", want.Name, i, f.Type, f.Seq, f.Data, wf)
		}
	}
	_, ok, err2 := next()
	switch want.End {
	case "empty":
		if ok || err2 != nil {
			t.Fatalf("ring %q: after the listed frames got ok=%v err=%v, want nothing", want.Name, ok, err2)
		}
	case "corrupt":
		if !errors.Is(err2, shm.ErrCorrupt) {
			t.Fatalf("ring %q: want ErrCorrupt after the listed frames, got ok=%v err=%v", want.Name, ok, err2)
		}
	default:
		t.Fatalf("manifest: unknown end %q", want.End)
	}
	rings, _, _ := seg.Stats()
	for _, st := range rings {
		if st.Name == want.Name && st.AbandonedRecords != want.Abandoned {
			t.Fatalf("ring %q: %d abandoned claims recovered, want %d", want.Name, st.AbandonedRecords, want.Abandoned)
		}
	}
}

type attached struct {
	*shm.Segment
	err error
}

// attachCopy attaches a private memfd copy of an image file, as a peer
// would attach a segment it received.
func attachCopy(t *testing.T, path string) attached {
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "image")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(img); err != nil {
		t.Fatal(err)
	}
	seg, err := shm.AttachFd(int(f.Fd()))
	if err == nil {
		t.Cleanup(func() { seg.Close() })
	}
	return attached{seg, err}
}
