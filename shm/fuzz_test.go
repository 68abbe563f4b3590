package shm_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
	"github.com/framebridge/framebridge/shm"
)

// Fuzz targets for everything read from shared memory. `go test ./shm` runs
// the seeds; `go test ./shm -run '^$' -fuzz FuzzReadRing` explores. Any
// panic, any fault outside the mapping (a fatal SIGSEGV) and any endless
// loop (the watchdog below panics) is a bug.

// goldenSeeds returns the committed golden images, sorted by name.
var goldenSeeds = sync.OnceValues(func() ([][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(testdataDir, "*.seg"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var imgs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, b)
	}
	return imgs, nil
})

// memfdImage returns a descriptor of an anonymous file holding img.
func memfdImage(t *testing.T, img []byte) int {
	fd, err := sys.MemfdCreate("fuzz")
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "fuzz")
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteAt(img, 0); err != nil {
		t.Fatal(err)
	}
	return fd
}

// noEndlessLoop crashes the process if the test does not finish in time:
// the fuzzer then reports the input as a crasher.
func noEndlessLoop(t *testing.T) {
	timer := time.AfterFunc(10*time.Second, func() { panic("endless loop: " + t.Name()) })
	t.Cleanup(func() { timer.Stop() })
}

// exercise uses every read path of an attached segment a bounded number of
// times; errors are fine, panics and hangs are not.
func exercise(seg *shm.Segment) {
	seg.Stats()
	seg.Stale()
	for _, r := range seg.Header().Regions {
		if r.Kind == shm.KindMailbox {
			if m, err := seg.Mailbox(r.Name); err == nil {
				buf := make([]byte, 64)
				m.Load(buf)
				m.Close()
			}
			continue
		}
		readRing(seg, r.Name)
	}
}

func readRing(seg *shm.Segment, name string) {
	r, err := seg.Reader(name, shm.Spin(0))
	if err != nil {
		return
	}
	defer r.Close()
	sink := 0
	count := func(f shm.Frame) error {
		for _, b := range f.Data { // touch every byte: it must be inside the mapping
			sink += int(b)
		}
		return nil
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 64; i++ {
		f, ok, err := r.TryNext()
		if ok && err == nil {
			count(f)
		}
		switch i % 8 {
		case 3:
			r.Release()
		case 5:
			r.Drain(4, count)
		case 7:
			if f, err := r.Next(done); err == nil {
				count(f)
			}
			r.Lag()
		}
	}
	_ = sink
}

func FuzzAttach(f *testing.F) {
	imgs, err := goldenSeeds()
	if err != nil {
		f.Fatal(err)
	}
	for _, img := range imgs {
		f.Add(img)
		f.Add(img[:shm.HeaderLength]) // header alone: segment size no longer matches
	}
	f.Add([]byte("FRBRIDGE"))
	f.Add(make([]byte, shm.HeaderLength))
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<16 { // big inputs only slow the fuzzer (and its minimizing) down
			return
		}
		noEndlessLoop(t)
		fd := memfdImage(t, img)
		seg, err := shm.AttachFd(fd)
		if err != nil {
			if seg != nil {
				t.Fatalf("AttachFd returned a segment and an error: %v", err)
			}
			return
		}
		defer seg.Close()
		h := seg.Header()
		if h.Size != uint64(len(img)) || len(h.Regions) == 0 {
			t.Fatalf("accepted a header that does not describe the image: size %d for %d bytes, %d regions", h.Size, len(img), len(h.Regions))
		}
		for _, r := range h.Regions {
			if r.Offset < shm.HeaderLength || r.Offset+r.Length > h.Size {
				t.Fatalf("accepted region %q at [%d, %d) in a segment of %d bytes", r.Name, r.Offset, r.Offset+r.Length, h.Size)
			}
		}
		exercise(seg)
	})
}

// FuzzReadRing starts from a valid image (a golden one, or one with frames
// written by this package) and overwrites chosen bytes of its first ring:
// the control block (positions, release-to, owner words, counters) and the
// data area (size, type, length and writer words, payload). Each patch is 6
// bytes: a u16 offset into the ring region and a u32 stored there. A
// writer tries a few claims on the patched ring, then a reader reads it.
func FuzzReadRing(f *testing.F) {
	imgs, err := goldenSeeds()
	if err != nil {
		f.Fatal(err)
	}
	patch := func(off uint16, v uint32) []byte {
		b := binary.LittleEndian.AppendUint16(nil, off)
		return binary.LittleEndian.AppendUint32(b, v)
	}
	data := func(off int) uint16 { return uint16(shm.RingDataOffset + off) }
	cat := func(ps ...[]byte) []byte {
		var b []byte
		for _, p := range ps {
			b = append(b, p...)
		}
		return b
	}
	for i := range imgs {
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), cat(patch(data(0), 4096)))                                     // one padding record covering the whole ring
		f.Add(uint8(i), cat(patch(data(0), 8), patch(data(8), 4088)))                  // padding that wraps onto itself
		f.Add(uint8(i), cat(patch(data(0), uint32(0xFFFFFFE8)), patch(data(4), 1)))    // a claimed (-24) record
		f.Add(uint8(i), cat(patch(data(0), 32), patch(data(4), 1), patch(data(8), 9))) // length past the record
		f.Add(uint8(i), cat(patch(shm.HeadPositionOffset, 4), patch(shm.TailPositionOffset, 1<<20)))
		f.Add(uint8(i), cat(patch(shm.ReaderReleaseToOffset, 4096), patch(shm.ReaderOwnerOffset, 1)))
		f.Add(uint8(i), cat(patch(data(0), uint32(0x80000000)), patch(data(12), 0xFFFFFFFF)))
		f.Add(uint8(i), cat(patch(shm.ClaimLockOffset, 1<<8))) // slot 0, epoch 1: the token our writer gets
	}
	f.Fuzz(func(t *testing.T, which uint8, patches []byte) {
		noEndlessLoop(t)
		img := append([]byte(nil), imgs[int(which)%len(imgs)]...)
		seg, err := shm.AttachFd(memfdImage(t, img))
		if err != nil {
			return // the bad-version and bad-capacity images
		}
		hdr := seg.Header()
		seg.Close()
		var ring *shm.Region
		for i, r := range hdr.Regions {
			if r.Kind != shm.KindMailbox {
				ring = &hdr.Regions[i]
				break
			}
		}
		if ring == nil {
			return
		}
		for ; len(patches) >= 6; patches = patches[6:] {
			off := ring.Offset + uint64(binary.LittleEndian.Uint16(patches))%ring.Length
			if off+4 > uint64(len(img)) {
				continue
			}
			copy(img[off:off+4], patches[2:6])
		}
		seg, err = shm.AttachFd(memfdImage(t, img))
		if err != nil {
			t.Fatalf("patching a ring broke the header: %v", err)
		}
		defer seg.Close()
		writeRing(seg, ring.Name)
		readRing(seg, ring.Name)
	})
}

// writeRing attaches a writer to a patched ring and tries a few claims:
// errors (ErrCorrupt, ErrFull) are fine, a hang or a fault is not.
func writeRing(seg *shm.Segment, name string) {
	w, err := seg.Writer(name, shm.Spin(0))
	if err != nil {
		return
	}
	defer w.Close()
	for i := 0; i < 8; i++ {
		b, err := w.TryClaim(1, 8*i)
		if err != nil {
			continue
		}
		for j := range b {
			b[j] = byte(j)
		}
		if i%3 == 2 {
			w.Abort()
		} else {
			w.Commit(len(b) / 2)
		}
	}
}
