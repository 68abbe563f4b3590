package shm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// An owner slot names the process holding a role (reader, writer, mailbox
// writer): a u64 owner word (pid in bits 0..31, epoch in bits 32..63) and
// the process's start time, so a recycled pid is not mistaken for the
// original owner. See docs/layout.md §7.
type ownerSlot struct {
	word  *uint64
	start *uint64
}

func slotAt(b []byte, off uint64) ownerSlot {
	return ownerSlot{word: u64At(b, off), start: u64At(b, off+8)}
}

func ownerPID(w uint64) int      { return int(uint32(w)) }
func ownerEpoch(w uint64) uint32 { return uint32(w >> 32) }

// self caches this process's pid and start time.
var self struct {
	once  sync.Once
	pid   int
	start uint64
	err   error
}

func selfIdentity() (int, uint64, error) {
	self.once.Do(func() {
		self.pid = sys.Getpid()
		self.start, self.err = sys.SelfStart()
	})
	return self.pid, self.start, self.err
}

// holderAlive reports whether the owner word w (read from the slot) names a
// live process. A slot whose recorded start time was not yet written reads
// as alive for the owner's own process only.
func (s ownerSlot) holderAlive(w uint64) bool {
	pid := ownerPID(w)
	if pid == 0 {
		return false
	}
	return sys.Alive(pid, atomic.LoadUint64(s.start))
}

// take claims the slot if it is free or its holder is dead. It returns the
// new epoch, or ok=false and the live holder's pid.
func (s ownerSlot) take() (epoch uint32, holder int, ok bool, err error) {
	pid, start, err := selfIdentity()
	if err != nil {
		return 0, 0, false, err
	}
	for {
		w := atomic.LoadUint64(s.word)
		if ownerPID(w) != 0 && s.holderAlive(w) {
			return 0, ownerPID(w), false, nil
		}
		if ownerPID(w) != 0 && s.mayBeTakingOver(w) {
			continue
		}
		e := ownerEpoch(w) + 1
		if e&0xFFFFFF == 0 { // epochs in writer tokens keep 24 bits; never reuse 0
			e++
		}
		if atomic.CompareAndSwapUint64(s.word, w, uint64(e)<<32|uint64(uint32(pid))) {
			atomic.StoreUint64(s.start, start)
			return e, 0, true, nil
		}
	}
}

// release frees the slot if this process still holds it with epoch.
func (s ownerSlot) release(epoch uint32) {
	pid, _, _ := selfIdentity()
	w := uint64(epoch)<<32 | uint64(uint32(pid))
	atomic.CompareAndSwapUint64(s.word, w, uint64(epoch)<<32)
}

// mayBeTakingOver reports whether the owner word w, which names a process
// that looks dead, may belong to a taker that has done its CAS but not yet
// stored its start time (layout.md §7). It waits, up to 100 ms, while the
// pid exists: a descheduled taker stores its start time when it runs again.
func (s ownerSlot) mayBeTakingOver(w uint64) bool {
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if atomic.LoadUint64(s.word) != w || s.holderAlive(w) {
			return true
		}
		if st, err := sys.ReadProcStat(ownerPID(w)); err != nil || st.State == 'Z' || st.State == 'X' {
			return false // gone: certainly dead
		}
	}
	return false
}
