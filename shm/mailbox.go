package shm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/framebridge/framebridge/internal/sys"
)

// Mailbox holds the latest value of something (a model version, a config),
// as the packed C struct SharedFrame {u64 seq; i32 status; u8 payload[N]}
// guarded as a seqlock: one writer, any number of readers, and a reader
// never sees a torn value (docs/layout.md §5.6).
type Mailbox struct {
	seg      *Segment
	name     string
	mem      []byte
	capacity int
	seq      *uint64
	ec       eventcount
	owner    ownerSlot
	cfg      config

	writer  bool
	epoch   uint32
	fence   uint32 // private word for Load's barrier
	lastSeq uint64 // writer: last even seq stored
	wait    waiter
	closed  bool
}

// Mailbox opens mailbox name for reading (Load, Wait).
func (s *Segment) Mailbox(name string, opts ...Option) (*Mailbox, error) {
	if err := s.writable(); err != nil {
		return nil, fmt.Errorf("open mailbox %q: %w", name, err)
	}
	r, err := s.region(name, KindMailbox)
	if err != nil {
		return nil, fmt.Errorf("open mailbox %q: %w", name, err)
	}
	mem := s.regionMem(r)
	m := &Mailbox{
		seg:      s,
		name:     name,
		mem:      mem,
		capacity: int(r.Capacity),
		seq:      u64At(mem, MailboxSeqOffset),
		ec:       eventcountAt(mem, MailboxSignalOffset, MailboxWaitersOffset),
		owner:    slotAt(mem, MailboxWriterOwnerOffset),
		cfg:      defaultConfig(opts),
	}
	m.wait.init(s, m.ec)
	return m, nil
}

// MailboxWriter opens mailbox name as its single writer (ErrBusy while
// another live process writes it).
func (s *Segment) MailboxWriter(name string, opts ...Option) (*Mailbox, error) {
	m, err := s.Mailbox(name, opts...)
	if err != nil {
		return nil, err
	}
	epoch, holder, ok, err := m.owner.take()
	if err != nil {
		return nil, fmt.Errorf("open mailbox %q for writing: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("open mailbox %q for writing: %w: written by pid %d", name, ErrBusy, holder)
	}
	m.writer, m.epoch = true, epoch
	m.lastSeq = atomic.LoadUint64(m.seq)
	if m.lastSeq%2 == 1 {
		// A writer died mid-store: publish an explicit empty value (status 0,
		// zero payload) so readers stop waiting for a store that never ends
		// (layout.md §5.6).
		put32(m.mem, MailboxStatusOffset, 0)
		clear(m.mem[MailboxPayloadOffset : MailboxPayloadOffset+m.capacity])
		m.lastSeq++
		atomic.StoreUint64(m.seq, m.lastSeq)
		m.ec.notify()
	}
	return m, nil
}

// Capacity is the payload size in bytes.
func (m *Mailbox) Capacity() int { return m.capacity }

// Store publishes status and payload (shorter payloads are zero-filled to
// the capacity) and wakes readers waiting for a new version.
func (m *Mailbox) Store(status int32, payload []byte) error {
	if m.closed {
		return ErrClosed
	}
	if !m.writer {
		return fmt.Errorf("store to mailbox %q: opened for reading; use Segment.MailboxWriter", m.name)
	}
	if len(payload) > m.capacity {
		return fmt.Errorf("store to mailbox %q: %w: %d bytes, capacity %d", m.name, ErrTooLarge, len(payload), m.capacity)
	}
	s := m.lastSeq
	// An atomic read-modify-write, not a store: on weakly ordered CPUs it
	// keeps the payload stores below from becoming visible before the odd seq.
	atomic.CompareAndSwapUint64(m.seq, s, s+1)
	put32(m.mem, MailboxStatusOffset, uint32(status))
	dst := m.mem[MailboxPayloadOffset : MailboxPayloadOffset+m.capacity]
	n := copy(dst, payload)
	clear(dst[n:])
	atomic.StoreUint64(m.seq, s+2)
	m.lastSeq = s + 2
	m.ec.notify()
	return nil
}

// Snapshot describes a value read from a mailbox.
type Snapshot struct {
	Version uint64 // number of stores so far; 0 = nothing stored yet
	Status  int32
}

// Load copies the current value's payload into dst (up to len(dst) bytes)
// and returns its version and status. It retries while the writer is
// storing; if the writer died mid-store it fails with ErrPeerDead until the
// next store. A live writer that stays mid-store (stopped by SIGSTOP, or
// hostile) keeps Load retrying: use LoadContext to bound the wait.
func (m *Mailbox) Load(dst []byte) (Snapshot, error) {
	return m.LoadContext(context.Background(), dst)
}

// LoadContext is Load that gives up once ctx is done, with ctx's error,
// when no consistent value could be read by then (a writer stalled
// mid-store, or one storing without pause).
func (m *Mailbox) LoadContext(ctx context.Context, dst []byte) (Snapshot, error) {
	if m.closed {
		return Snapshot{}, ErrClosed
	}
	src := m.mem[MailboxPayloadOffset : MailboxPayloadOffset+m.capacity]
	for i := 1; ; i++ {
		s1 := atomic.LoadUint64(m.seq)
		if s1%2 == 0 {
			status := int32(load32(m.mem, MailboxStatusOffset))
			copy(dst, src)
			// A full barrier (the acquire fence of §5.6): the copy's loads
			// complete before the seq is read again.
			atomic.AddUint32(&m.fence, 1)
			if atomic.LoadUint64(m.seq) == s1 {
				return Snapshot{Version: s1 / 2, Status: status}, nil
			}
		}
		if i&1023 == 0 {
			w := atomic.LoadUint64(m.owner.word)
			if s1%2 == 1 && atomic.LoadUint64(m.seq) == s1 && !m.owner.holderAlive(w) {
				return Snapshot{}, fmt.Errorf("load mailbox %q: %w: writer pid %d died while storing", m.name, ErrPeerDead, ownerPID(w))
			}
			if err := ctx.Err(); err != nil {
				return Snapshot{}, fmt.Errorf("load mailbox %q: no consistent value before the context ended (writer pid %d is storing, stalled or without pause): %w",
					m.name, ownerPID(w), err)
			}
			sys.Yield()
		}
	}
}

// Version returns the current version without copying the value.
func (m *Mailbox) Version() uint64 { return atomic.LoadUint64(m.seq) / 2 }

// Wait blocks until the version exceeds after (spinning for the spin
// budget, then sleeping), or ctx is done. It returns the new version.
func (m *Mailbox) Wait(ctx context.Context, after uint64) (uint64, error) {
	if m.closed {
		return 0, ErrClosed
	}
	changed := func() bool { return atomic.LoadUint64(m.seq)/2 > after }
	if changed() || spinUntil(m.cfg.spin, changed) {
		return m.Version(), nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("wait on mailbox %q: %w", m.name, err)
		}
		seen := m.ec.prepare()
		if changed() {
			m.ec.cancel()
			return m.Version(), nil
		}
		timeout, expired := sleepTimeout(ctx, -1)
		if expired {
			m.ec.cancel()
			return 0, fmt.Errorf("wait on mailbox %q: %w", m.name, context.DeadlineExceeded)
		}
		m.wait.arm(ctx)
		m.ec.sleep(seen, timeout)
	}
}

// Close gives up the writer role (if held). Idempotent.
func (m *Mailbox) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	m.wait.close()
	if m.writer {
		m.owner.release(m.epoch)
	}
	return nil
}
