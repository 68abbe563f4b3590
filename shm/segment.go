package shm

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// RingKind says how many writers a ring admits.
type RingKind uint32

const (
	// SPSC rings have one writer and one reader.
	SPSC RingKind = KindSPSC
	// MPSC rings have up to MaxWriters writers, in any processes, and one reader.
	MPSC RingKind = KindMPSC
)

func (k RingKind) String() string {
	switch k {
	case SPSC:
		return "spsc"
	case MPSC:
		return "mpsc"
	}
	return fmt.Sprintf("RingKind(%d)", uint32(k))
}

// RingSpec describes a ring to create.
type RingSpec struct {
	Name     string
	Kind     RingKind
	Capacity int // data bytes: a power of two in [4096, 1<<30]
}

// MailboxSpec describes a mailbox to create.
type MailboxSpec struct {
	Name        string
	PayloadSize int // bytes of payload; 0 means DefaultMailboxCapacity
}

// Spec lists the regions of a segment, laid out in order.
type Spec struct {
	Rings     []RingSpec
	Mailboxes []MailboxSpec
}

// Region describes one entry of a segment's region table.
type Region struct {
	Name     string
	Kind     uint32 // KindSPSC, KindMPSC or KindMailbox
	Offset   uint64
	Length   uint64
	Capacity uint64
}

// Header is the validated segment header.
type Header struct {
	Version     uint32
	Size        uint64
	Generation  uint64
	CreatorPID  uint32
	CreatorUp   uint64 // creator's start time (clock ticks since boot)
	CreatedAt   time.Time
	Regions     []Region
	CreatorLive bool // whether the creator process is still running
}

// Segment is a mapped shared-memory segment.
type Segment struct {
	name   string // "" for an unnamed memfd
	path   string
	fd     int
	mem    []byte
	header Header

	readOnly bool

	mu     sync.RWMutex // Close holds it to unmap; wake-ups hold it shared
	closed atomic.Bool
}

// Options tune Create.
type Options struct {
	// ReplaceStale re-creates a named segment whose creator is dead,
	// with generation = old generation + 1, instead of failing with ErrExist.
	ReplaceStale bool
}

// Path returns the file a named segment lives in.
func Path(name string) string { return filepath.Join(sys.ShmDir, name) }

func validName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLength {
		return fmt.Errorf("name %q must be 1..%d bytes", name, MaxNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("name %q may only hold A-Z a-z 0-9 . _ -", name)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("name %q is reserved", name)
	}
	return nil
}

// plan lays a spec out into regions and returns the total segment size.
func plan(spec Spec) ([]Region, uint64, error) {
	n := len(spec.Rings) + len(spec.Mailboxes)
	if n == 0 || n > MaxRegions {
		return nil, 0, fmt.Errorf("%w: %d regions, want 1..%d", ErrInvalidSpec, n, MaxRegions)
	}
	seen := map[string]bool{}
	off := uint64(HeaderLength)
	regions := make([]Region, 0, n)
	add := func(name string, kind uint32, capacity, length uint64) error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidSpec, err)
		}
		if seen[name] {
			return fmt.Errorf("%w: region name %q used twice", ErrInvalidSpec, name)
		}
		seen[name] = true
		regions = append(regions, Region{Name: name, Kind: kind, Offset: off, Length: length, Capacity: capacity})
		off += length
		return nil
	}
	for _, r := range spec.Rings {
		if r.Kind != SPSC && r.Kind != MPSC {
			return nil, 0, fmt.Errorf("%w: ring %q: kind must be SPSC or MPSC", ErrInvalidSpec, r.Name)
		}
		c := r.Capacity
		if c < MinRingCapacity || c > MaxRingCapacity || c&(c-1) != 0 {
			return nil, 0, fmt.Errorf("%w: ring %q: capacity %d must be a power of two in [%d, %d]",
				ErrInvalidSpec, r.Name, c, MinRingCapacity, MaxRingCapacity)
		}
		if err := add(r.Name, uint32(r.Kind), uint64(c), ringRegionLength(uint64(c))); err != nil {
			return nil, 0, err
		}
	}
	for _, m := range spec.Mailboxes {
		c := m.PayloadSize
		if c == 0 {
			c = DefaultMailboxCapacity
		}
		if c < 1 || c > MaxMailboxCapacity {
			return nil, 0, fmt.Errorf("%w: mailbox %q: payload size %d must be in [1, %d]",
				ErrInvalidSpec, m.Name, c, MaxMailboxCapacity)
		}
		if err := add(m.Name, KindMailbox, uint64(c), mailboxRegionLength(uint64(c))); err != nil {
			return nil, 0, err
		}
	}
	return regions, off, nil
}

// Create creates a named segment under /dev/shm (mode 0600, exclusive) with
// the regions of spec, reserving all of its memory up front.
func Create(name string, spec Spec, opts ...Options) (*Segment, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("create segment: %w: %v", ErrInvalidSpec, err)
	}
	regions, size, err := plan(spec)
	if err != nil {
		return nil, fmt.Errorf("create segment %q: %w", name, err)
	}
	path := Path(name)
	generation := uint64(1)
	fd, err := sys.CreateExclusive(path)
	if errors.Is(err, sys.EEXIST) && o.ReplaceStale {
		old, aerr := Attach(name, AttachOptions{ReadOnly: true})
		switch {
		case aerr == nil && old.header.CreatorLive:
			old.Close()
			return nil, fmt.Errorf("create segment %q: %w (creator pid %d is alive)", name, ErrExist, old.header.CreatorPID)
		case aerr == nil:
			generation = old.header.Generation + 1
			old.Close()
		case errors.Is(aerr, ErrCorrupt) || errors.Is(aerr, ErrVersionMismatch):
			// Replace unreadable leftovers too; their generation is unknown.
		default:
			return nil, fmt.Errorf("create segment %q: replace stale: %w", name, aerr)
		}
		if err := sys.Unlink(path); err != nil && !errors.Is(err, sys.ENOENT) {
			return nil, fmt.Errorf("create segment %q: remove stale: %w", name, err)
		}
		fd, err = sys.CreateExclusive(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create segment %q: %w", name, mapOpenErr(err))
	}
	s, err := initSegment(fd, regions, size, generation)
	if err != nil {
		sys.Close(fd)
		sys.Unlink(path)
		return nil, fmt.Errorf("create segment %q: %w", name, err)
	}
	s.name, s.path = name, path
	return s, nil
}

// CreateMemfd creates an anonymous segment backed by a memfd. Hand its Fd to
// peers (over a Unix socket with SCM_RIGHTS, or by inheritance) and they
// attach with AttachFd. The name only labels the memfd in /proc.
func CreateMemfd(name string, spec Spec) (*Segment, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("create memfd segment: %w: %v", ErrInvalidSpec, err)
	}
	regions, size, err := plan(spec)
	if err != nil {
		return nil, fmt.Errorf("create memfd segment %q: %w", name, err)
	}
	fd, err := sys.MemfdCreate("framebridge:" + name)
	if err != nil {
		return nil, fmt.Errorf("create memfd segment %q: %w", name, err)
	}
	s, err := initSegment(fd, regions, size, 1)
	if err != nil {
		sys.Close(fd)
		return nil, fmt.Errorf("create memfd segment %q: %w", name, err)
	}
	// Sealed at once: a peer holding the descriptor can then neither shrink
	// the memory under everyone's mappings (SIGBUS) nor grow it.
	if err := s.Seal(); err != nil {
		s.Close()
		return nil, fmt.Errorf("create memfd segment %q: %w", name, err)
	}
	return s, nil
}

func mapOpenErr(err error) error {
	switch {
	case errors.Is(err, sys.EEXIST):
		return fmt.Errorf("%w (remove it, or use Options{ReplaceStale: true} if its creator is gone)", ErrExist)
	case errors.Is(err, sys.ENOENT):
		return ErrNotExist
	case errors.Is(err, sys.EACCES):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, sys.ENOSPC):
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	return err
}

func initSegment(fd int, regions []Region, size, generation uint64) (*Segment, error) {
	if err := sys.Reserve(fd, int64(size)); err != nil {
		if errors.Is(err, sys.ENOSPC) {
			return nil, fmt.Errorf("%w: %d bytes requested (%v); free space in %s or make the rings smaller",
				ErrNoSpace, size, err, sys.ShmDir)
		}
		return nil, err
	}
	mem, err := sys.Mmap(fd, int(size), true)
	if err != nil {
		return nil, err
	}
	start, err := sys.SelfStart()
	if err != nil {
		sys.Munmap(mem)
		return nil, err
	}
	put32(mem, VersionOffset, LayoutVersion)
	put32(mem, HeaderLengthOffset, HeaderLength)
	put64(mem, SegmentSizeOffset, size)
	put64(mem, GenerationOffset, generation)
	put32(mem, CreatorPIDOffset, uint32(sys.Getpid()))
	put32(mem, RegionCountOffset, uint32(len(regions)))
	put64(mem, CreatorStartOffset, start)
	put64(mem, CreatedUnixNanoOffset, uint64(time.Now().UnixNano()))
	for i, r := range regions {
		e := uint64(RegionTableOffset + i*RegionEntryLength)
		put32(mem, e+RegionKindOffset, r.Kind)
		put64(mem, e+RegionOffsetOffset, r.Offset)
		put64(mem, e+RegionLengthOffset, r.Length)
		put64(mem, e+RegionCapacityOffset, r.Capacity)
		copy(mem[e+RegionNameOffset:e+RegionNameOffset+RegionNameLength], r.Name)
		if r.Kind != KindMailbox {
			put64(mem, r.Offset+NextSequenceOffset, 1) // sequences start at 1; 0 means "none"
		}
	}
	// Magic last: an attacher that sees it sees everything above.
	atomic.StoreUint64(u64At(mem, MagicOffset), Magic)
	s := &Segment{fd: fd, mem: mem}
	h, err := parseHeader(mem, uint64(size))
	if err != nil { // cannot happen unless plan and parseHeader disagree
		sys.Munmap(mem)
		return nil, fmt.Errorf("internal error: freshly created segment does not validate: %w", err)
	}
	s.header = h
	return s, nil
}

// AttachOptions tune Attach.
type AttachOptions struct {
	// ReadOnly maps the segment read-only: for inspection (framebridge stat);
	// writers, readers and mailboxes cannot be opened on it.
	ReadOnly bool
}

// Attach maps an existing named segment and validates its header.
func Attach(name string, opts ...AttachOptions) (*Segment, error) {
	var o AttachOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("attach segment: %w: %v", ErrInvalidSpec, err)
	}
	path := Path(name)
	fd, err := sys.OpenExisting(path, o.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("attach segment %q: %w", name, mapOpenErr(err))
	}
	// A named segment of another user was planted or is not ours to use; a
	// descriptor (AttachFd) was handed over on purpose, e.g. by a channel
	// server of another uid that allows us.
	if st, err := sys.Fstat(fd); err == nil && st.UID != uint32(os.Getuid()) && os.Getuid() != 0 {
		sys.Close(fd)
		return nil, fmt.Errorf("attach segment %q: %w: segment belongs to uid %d", name, ErrPermission, st.UID)
	}
	s, err := attachFd(fd, o)
	if err != nil {
		sys.Close(fd)
		return nil, fmt.Errorf("attach segment %q: %w", name, err)
	}
	s.name, s.path = name, path
	return s, nil
}

// AttachFd maps the segment open on fd (a memfd received from a peer, or any
// file holding a segment image). The Segment owns a duplicate of fd; the
// caller still owns fd. Unlike Attach it accepts a segment of another uid:
// whoever passed the descriptor chose to share it.
func AttachFd(fd int, opts ...AttachOptions) (*Segment, error) {
	var o AttachOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	dup, err := sys.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("attach segment fd %d: %w", fd, err)
	}
	s, err := attachFd(dup, o)
	if err != nil {
		sys.Close(dup)
		return nil, fmt.Errorf("attach segment fd %d: %w", fd, err)
	}
	return s, nil
}

func attachFd(fd int, o AttachOptions) (*Segment, error) {
	st, err := sys.Fstat(fd)
	if err != nil {
		return nil, err
	}
	if st.Size < HeaderLength {
		return nil, corrupt("", "file size", 0, uint64(max(st.Size, 0)), "smaller than the 4096-byte header")
	}
	if uint64(st.Size) > 1<<40 || uint64(st.Size) > uint64(^uint(0)>>1) {
		return nil, corrupt("", "file size", 0, uint64(st.Size), "larger than any segment")
	}
	mem, err := sys.Mmap(fd, int(st.Size), !o.ReadOnly)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(mem, uint64(st.Size))
	if err != nil {
		sys.Munmap(mem)
		return nil, err
	}
	return &Segment{fd: fd, mem: mem, header: h, readOnly: o.ReadOnly}, nil
}

// parseHeader validates every header field, reading each once.
func parseHeader(mem []byte, fileSize uint64) (Header, error) {
	var h Header
	if m := atomic.LoadUint64(u64At(mem, MagicOffset)); m != Magic {
		return h, corrupt("", "magic", MagicOffset, m, "not a framebridge segment (or its creator has not finished)")
	}
	h.Version = load32(mem, VersionOffset)
	if h.Version != LayoutVersion {
		return h, fmt.Errorf("%w: segment has layout version %d, this library reads %d; use a framebridge release for that version on both sides",
			ErrVersionMismatch, h.Version, LayoutVersion)
	}
	if v := load32(mem, HeaderLengthOffset); v != HeaderLength {
		return h, corrupt("", "header length", HeaderLengthOffset, uint64(v), "must be 4096")
	}
	h.Size = load64(mem, SegmentSizeOffset)
	if h.Size != fileSize {
		return h, corrupt("", "segment size", SegmentSizeOffset, h.Size, fmt.Sprintf("does not match the file size %d", fileSize))
	}
	h.Generation = load64(mem, GenerationOffset)
	if h.Generation == 0 {
		return h, corrupt("", "generation", GenerationOffset, 0, "must be >= 1")
	}
	h.CreatorPID = load32(mem, CreatorPIDOffset)
	h.CreatorUp = load64(mem, CreatorStartOffset)
	h.CreatedAt = time.Unix(0, int64(load64(mem, CreatedUnixNanoOffset)))
	h.CreatorLive = sys.Alive(int(h.CreatorPID), h.CreatorUp)
	count := load32(mem, RegionCountOffset)
	if count == 0 || count > MaxRegions {
		return h, corrupt("", "region count", RegionCountOffset, uint64(count), "must be 1..32")
	}
	h.Regions = make([]Region, 0, count)
	for i := uint64(0); i < uint64(count); i++ {
		e := RegionTableOffset + i*RegionEntryLength
		r, err := parseRegion(mem, e, h.Size)
		if err != nil {
			return h, err
		}
		for _, o := range h.Regions {
			if o.Name == r.Name {
				return h, corrupt("", "region name", e+RegionNameOffset, 0, fmt.Sprintf("%q appears twice", r.Name))
			}
			if r.Offset < o.Offset+o.Length && o.Offset < r.Offset+r.Length {
				return h, corrupt("", "region offset", e+RegionOffsetOffset, r.Offset, fmt.Sprintf("region %q overlaps %q", r.Name, o.Name))
			}
		}
		h.Regions = append(h.Regions, r)
	}
	return h, nil
}

func parseRegion(mem []byte, e, segSize uint64) (Region, error) {
	var r Region
	nameBytes := mem[e+RegionNameOffset : e+RegionNameOffset+RegionNameLength]
	n := 0
	for n < len(nameBytes) && nameBytes[n] != 0 {
		n++
	}
	for _, c := range nameBytes[n:] {
		if c != 0 {
			return r, corrupt("", "region name", e+RegionNameOffset, uint64(c), "bytes after the terminating NUL must be zero")
		}
	}
	r.Name = string(nameBytes[:n])
	if err := validName(r.Name); err != nil {
		return r, corrupt("", "region name", e+RegionNameOffset, uint64(n), err.Error())
	}
	r.Kind = load32(mem, e+RegionKindOffset)
	if flags := load32(mem, e+RegionFlagsOffset); flags != 0 {
		return r, corrupt(r.Name, "region flags", e+RegionFlagsOffset, uint64(flags), "must be zero")
	}
	r.Offset = load64(mem, e+RegionOffsetOffset)
	r.Length = load64(mem, e+RegionLengthOffset)
	r.Capacity = load64(mem, e+RegionCapacityOffset)
	if r.Offset < HeaderLength || r.Offset%PageSize != 0 {
		return r, corrupt(r.Name, "region offset", e+RegionOffsetOffset, r.Offset, "must be a multiple of 4096 and >= 4096")
	}
	if r.Length == 0 || r.Length%PageSize != 0 {
		return r, corrupt(r.Name, "region length", e+RegionLengthOffset, r.Length, "must be a non-zero multiple of 4096")
	}
	if end, carry := bits.Add64(r.Offset, r.Length, 0); carry != 0 || end > segSize {
		return r, corrupt(r.Name, "region length", e+RegionLengthOffset, r.Length, "region extends past the end of the segment")
	}
	switch r.Kind {
	case KindSPSC, KindMPSC:
		c := r.Capacity
		if c < MinRingCapacity || c > MaxRingCapacity || c&(c-1) != 0 {
			return r, corrupt(r.Name, "ring capacity", e+RegionCapacityOffset, c, "must be a power of two in [4096, 2^30]")
		}
		if r.Length != ringRegionLength(c) {
			return r, corrupt(r.Name, "region length", e+RegionLengthOffset, r.Length, fmt.Sprintf("ring of capacity %d needs %d", c, ringRegionLength(c)))
		}
	case KindMailbox:
		c := r.Capacity
		if c < 1 || c > MaxMailboxCapacity {
			return r, corrupt(r.Name, "mailbox capacity", e+RegionCapacityOffset, c, "must be in [1, 2^20]")
		}
		if r.Length != mailboxRegionLength(c) {
			return r, corrupt(r.Name, "region length", e+RegionLengthOffset, r.Length, fmt.Sprintf("mailbox of capacity %d needs %d", c, mailboxRegionLength(c)))
		}
	default:
		return r, corrupt(r.Name, "region kind", e+RegionKindOffset, uint64(r.Kind), "must be 1 (spsc), 2 (mpsc) or 3 (mailbox)")
	}
	return r, nil
}

// Name returns the segment's name ("" for a memfd segment).
func (s *Segment) Name() string { return s.name }

// Fd returns the segment's file descriptor, valid until Close. Pass it to
// peers (SCM_RIGHTS or exec) so they can AttachFd.
func (s *Segment) Fd() int { return s.fd }

// Header returns the validated header as read at attach time.
func (s *Segment) Header() Header { return s.header }

// Generation returns the segment's generation.
func (s *Segment) Generation() uint64 { return s.header.Generation }

// Seal forbids resizing the segment (memfd segments only): a peer can then
// neither shrink it (SIGBUS for everyone) nor grow it.
func (s *Segment) Seal() error { return sys.Seal(s.fd) }

// Stale reports whether the name now refers to another segment (re-created
// by a restarted owner) or to nothing. Memfd segments are never stale.
func (s *Segment) Stale() (bool, error) {
	if s.path == "" {
		return false, nil
	}
	cur, err := Attach(s.name, AttachOptions{ReadOnly: true})
	if errors.Is(err, ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer cur.Close()
	// Another generation, or the same one in another file (removed and
	// created afresh, which starts at generation 1 again).
	mine, err1 := sys.Fstat(s.fd)
	theirs, err2 := sys.Fstat(cur.fd)
	if err := errors.Join(err1, err2); err != nil {
		return false, err
	}
	return cur.header.Generation != s.header.Generation || mine.Ino != theirs.Ino || mine.Dev != theirs.Dev, nil
}

func (s *Segment) region(name string, kinds ...uint32) (Region, error) {
	if s.closed.Load() {
		return Region{}, ErrClosed
	}
	for _, r := range s.header.Regions {
		if r.Name != name {
			continue
		}
		for _, k := range kinds {
			if r.Kind == k {
				return r, nil
			}
		}
		return Region{}, fmt.Errorf("%w: %q is a %s, not a %s", ErrNoRegion, name, kindName(r.Kind), kindName(kinds[0]))
	}
	names := make([]string, 0, len(s.header.Regions))
	for _, r := range s.header.Regions {
		names = append(names, r.Name)
	}
	return Region{}, fmt.Errorf("%w: %q (the segment holds %q)", ErrNoRegion, name, names)
}

func kindName(k uint32) string {
	switch k {
	case KindSPSC:
		return "spsc ring"
	case KindMPSC:
		return "mpsc ring"
	case KindMailbox:
		return "mailbox"
	}
	return fmt.Sprintf("kind %d", k)
}

// regionMem returns the bytes of a validated region.
func (s *Segment) regionMem(r Region) []byte {
	return s.mem[r.Offset : r.Offset+r.Length : r.Offset+r.Length]
}

func (s *Segment) writable() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.readOnly {
		return fmt.Errorf("%w: segment attached read-only", ErrPermission)
	}
	return nil
}

// Close unmaps the segment and closes its descriptor. Views returned by
// readers and writers must not be used afterwards. Close is idempotent.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(sys.Munmap(s.mem), sys.Close(s.fd))
}

// Unlink removes a named segment's name; mappings stay valid until closed.
func (s *Segment) Unlink() error {
	if s.path == "" {
		return nil
	}
	if err := sys.Unlink(s.path); err != nil && !errors.Is(err, sys.ENOENT) {
		return fmt.Errorf("unlink segment %q: %w", s.name, err)
	}
	return nil
}

// Remove unlinks the named segment name, if present.
func Remove(name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("remove segment: %w: %v", ErrInvalidSpec, err)
	}
	if err := sys.Unlink(Path(name)); err != nil && !errors.Is(err, sys.ENOENT) {
		return fmt.Errorf("remove segment %q: %w", name, err)
	}
	return nil
}
