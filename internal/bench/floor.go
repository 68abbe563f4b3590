package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/framebridge/framebridge/internal/sys"
)

// The floor: what a hand-off between two processes costs with nothing but
// the mapping, measured over a named object under /dev/shm mapped shared
// (the same kind of mapping a named framebridge segment is).
//
//	offset 0     request word (client -> server)     own 128-byte line
//	offset 128   response word (server -> client)    own 128-byte line
//	offset 4096  floor-stream: data area of the byte ring (capacity bytes)
//
// Round trips ("floor-client"/"floor-server"): the client stores an
// incremented counter in the request word and waits for the server to copy
// it to the response word. Mode "spin" busy-spins on both sides (u64 words);
// mode "futex" always sleeps in FUTEX_WAIT and always calls FUTEX_WAKE
// (u32 words, shared futexes) — the kernel's round trip.
//
// Throughput ("floor-stream-write"/"floor-stream-read"): an SPSC byte ring
// of [u32 length | u32 pad | payload] records, 8-byte aligned, with the
// write position in the request line and the read position in the response
// line; the writer copies each message in, the reader copies it out, both
// busy-spin. It is the classic copy-in/copy-out ring that framebridge's
// zero-copy rings are compared with.
const (
	floorReqOffset  = 0
	floorRespOffset = 128
	floorDataOffset = 4096
	floorStop       = ^uint64(0)
	floorStop32     = ^uint32(0)
	floorWrap       = ^uint32(0)
)

// createFloorFile creates a unique named object under /dev/shm for one floor
// measurement, holding capacity ring bytes after the control page.
func createFloorFile(tag string, capacity int) (string, error) {
	path := filepath.Join(sys.ShmDir, fmt.Sprintf("framebridge-bench-%d-%s", os.Getpid(), tag))
	fd, err := sys.CreateExclusive(path)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	defer sys.Close(fd)
	if err := sys.Reserve(fd, int64(floorDataOffset+capacity)); err != nil {
		sys.Unlink(path)
		return "", fmt.Errorf("reserve %s: %w", path, err)
	}
	return path, nil
}

// mapFloor maps the whole floor object shared.
func mapFloor(path string) ([]byte, error) {
	fd, err := sys.OpenExisting(path, false)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer sys.Close(fd)
	st, err := sys.Fstat(fd)
	if err != nil {
		return nil, err
	}
	if st.Size < floorDataOffset {
		return nil, fmt.Errorf("%s: %d bytes, want at least %d", path, st.Size, floorDataOffset)
	}
	return sys.Mmap(fd, int(st.Size), true)
}

func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func word32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

func floorServer(path, mode string) (string, error) {
	m, err := mapFloor(path)
	if err != nil {
		return "", err
	}
	defer sys.Munmap(m)
	switch mode {
	case "spin":
		req, resp := word64(m, floorReqOffset), word64(m, floorRespOffset)
		say("ready")
		last, n := uint64(0), uint64(0)
		for {
			v := atomic.LoadUint64(req)
			if v == last {
				continue
			}
			if v == floorStop {
				return fmt.Sprintf("ok frames=%d", n), nil
			}
			last = v
			n++
			atomic.StoreUint64(resp, v)
		}
	case "futex":
		req, resp := word32(m, floorReqOffset), word32(m, floorRespOffset)
		say("ready")
		last, n := uint32(0), 0
		for {
			v := atomic.LoadUint32(req)
			for ; v == last; v = atomic.LoadUint32(req) {
				sys.FutexWait(req, last, -1)
			}
			if v == floorStop32 {
				return fmt.Sprintf("ok frames=%d", n), nil
			}
			last = v
			n++
			atomic.StoreUint32(resp, v)
			sys.FutexWake(resp, 1)
		}
	}
	return "", usageErr("--mode must be spin or futex")
}

func floorClient(path, mode string, iters, warmup int) (string, error) {
	m, err := mapFloor(path)
	if err != nil {
		return "", err
	}
	defer sys.Munmap(m)
	samples := make([]int64, iters)
	switch mode {
	case "spin":
		req, resp := word64(m, floorReqOffset), word64(m, floorRespOffset)
		say("ready")
		seq := uint64(0)
		for i := -warmup; i < iters; i++ {
			start := time.Now()
			seq++
			atomic.StoreUint64(req, seq)
			for atomic.LoadUint64(resp) != seq {
			}
			if i >= 0 {
				samples[i] = int64(time.Since(start))
			}
		}
		atomic.StoreUint64(req, floorStop)
	case "futex":
		req, resp := word32(m, floorReqOffset), word32(m, floorRespOffset)
		say("ready")
		seq := uint32(0)
		for i := -warmup; i < iters; i++ {
			start := time.Now()
			seq++
			atomic.StoreUint32(req, seq)
			sys.FutexWake(req, 1)
			for v := atomic.LoadUint32(resp); v != seq; v = atomic.LoadUint32(resp) {
				sys.FutexWait(resp, v, -1)
			}
			if i >= 0 {
				samples[i] = int64(time.Since(start))
			}
		}
		atomic.StoreUint32(req, floorStop32)
		sys.FutexWake(req, 1)
	default:
		return "", usageErr("--mode must be spin or futex")
	}
	p50, p99 := Summarize(samples)
	return fmt.Sprintf("ok p50_ns=%d p99_ns=%d iters=%d", p50, p99, iters), nil
}

// floorRing is one side's view of the copy ring.
type floorRing struct {
	wpos, rpos *uint64
	data       []byte
	mask       uint64
}

func openFloorRing(path string) (floorRing, []byte, error) {
	m, err := mapFloor(path)
	if err != nil {
		return floorRing{}, nil, err
	}
	capacity := uint64(len(m) - floorDataOffset)
	if capacity < 4096 || capacity&(capacity-1) != 0 {
		sys.Munmap(m)
		return floorRing{}, nil, fmt.Errorf("%s: ring of %d bytes is not a power of two >= 4096", path, capacity)
	}
	return floorRing{
		wpos: word64(m, floorReqOffset),
		rpos: word64(m, floorRespOffset),
		data: m[floorDataOffset:],
		mask: capacity - 1,
	}, m, nil
}

func floorRecord(size int) uint64 { return (8 + uint64(size) + 7) &^ 7 }

func floorStreamWrite(path string, size int, count uint64) (string, error) {
	r, m, err := openFloorRing(path)
	if err != nil {
		return "", err
	}
	defer sys.Munmap(m)
	capacity := r.mask + 1
	rec := floorRecord(size)
	if size < 8 || rec > capacity/2 {
		return "", usageErr(fmt.Sprintf("--size %d does not fit a ring of %d bytes", size, capacity))
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	say("ready")
	var head, tail uint64 // head: bytes written; tail: reader position seen
	for i := uint64(0); i < count; i++ {
		pos := head & r.mask
		if pos+rec > capacity { // no room before the end: a wrap marker, continue at 0
			for head+(capacity-pos)-tail > capacity {
				tail = atomic.LoadUint64(r.rpos)
			}
			binary.LittleEndian.PutUint32(r.data[pos:], floorWrap)
			head += capacity - pos
			pos = 0
		}
		for head+rec-tail > capacity {
			tail = atomic.LoadUint64(r.rpos)
		}
		binary.LittleEndian.PutUint64(buf, i)
		binary.LittleEndian.PutUint32(r.data[pos:], uint32(size))
		copy(r.data[pos+8:pos+8+uint64(size)], buf)
		head += rec
		atomic.StoreUint64(r.wpos, head)
	}
	return fmt.Sprintf("ok frames=%d", count), nil
}

func floorStreamRead(path string, size int, count uint64) (string, error) {
	r, m, err := openFloorRing(path)
	if err != nil {
		return "", err
	}
	defer sys.Munmap(m)
	capacity := r.mask + 1
	buf := make([]byte, size)
	say("ready")
	var head, tail, bytes uint64 // head: writer position seen; tail: bytes consumed
	var start time.Time
	for i := uint64(0); i < count; i++ {
		var pos uint64
		for {
			for tail == head {
				head = atomic.LoadUint64(r.wpos)
			}
			pos = tail & r.mask
			if binary.LittleEndian.Uint32(r.data[pos:]) != floorWrap {
				break
			}
			tail += capacity - pos
		}
		n := binary.LittleEndian.Uint32(r.data[pos:])
		if int(n) > len(buf) {
			return "", fmt.Errorf("record %d claims %d bytes, want at most %d", i, n, len(buf))
		}
		copy(buf[:n], r.data[pos+8:pos+8+uint64(n)])
		if got := binary.LittleEndian.Uint64(buf); got != i {
			return "", fmt.Errorf("record %d carries index %d", i, got)
		}
		bytes += uint64(n)
		tail += floorRecord(int(n))
		atomic.StoreUint64(r.rpos, tail)
		if i == 0 {
			start = time.Now()
		}
	}
	// Like stream-read: from the first frame's arrival to the last one's.
	return fmt.Sprintf("ok frames=%d bytes=%d ns=%d", count, bytes, time.Since(start).Nanoseconds()), nil
}
