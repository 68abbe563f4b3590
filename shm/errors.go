package shm

import (
	"errors"
	"fmt"
)

// Errors of segment operations (Create, Attach, ...). Test with errors.Is.
var (
	// ErrExist: a segment with that name already exists.
	ErrExist = errors.New("segment already exists")
	// ErrNotExist: no segment with that name.
	ErrNotExist = errors.New("segment does not exist")
	// ErrPermission: the segment belongs to another user or is not 0600.
	ErrPermission = errors.New("permission denied")
	// ErrNoSpace: the shared-memory filesystem cannot hold the segment.
	ErrNoSpace = errors.New("not enough shared memory")
	// ErrVersionMismatch: the segment was written with another layout version.
	ErrVersionMismatch = errors.New("layout version mismatch")
	// ErrCorrupt: bytes in shared memory violate the layout. A *CorruptError says which.
	ErrCorrupt = errors.New("corrupt segment")
	// ErrInvalidSpec: the Spec passed to Create is not acceptable.
	ErrInvalidSpec = errors.New("invalid segment spec")
	// ErrNoRegion: the segment has no ring or mailbox of that name and kind.
	ErrNoRegion = errors.New("no such region")
	// ErrClosed: the segment, writer or reader was closed.
	ErrClosed = errors.New("closed")
)

// Errors of ring and mailbox operations.
var (
	// ErrBusy: the role (reader, SPSC writer, mailbox writer) is held by a live process, or all 64 MPSC writer slots are.
	ErrBusy = errors.New("already attached by a live process")
	// ErrFull: TryClaim found no room for the frame.
	ErrFull = errors.New("ring full")
	// ErrTooLarge: the frame can never fit in the ring.
	ErrTooLarge = errors.New("frame larger than the ring allows")
	// ErrBadType: frame types are 1..MaxUserType.
	ErrBadType = errors.New("invalid frame type")
	// ErrNoClaim: Commit or Abort without an outstanding claim.
	ErrNoClaim = errors.New("no outstanding claim")
	// ErrClaimPending: Claim while a previous claim is neither committed nor aborted.
	ErrClaimPending = errors.New("previous claim not committed or aborted")
	// ErrPeerDead: the peer this operation depends on died.
	ErrPeerDead = errors.New("peer process died")
	// ErrStopped: a context-free wait (NextUntil, AwaitRelease) ended because
	// its stop word was set.
	ErrStopped = errors.New("wait stopped")
)

// CorruptError describes bytes in shared memory that violate the layout.
type CorruptError struct {
	Region string // ring or mailbox name, "" for the segment header
	Field  string // what was wrong, e.g. "record size"
	Pos    uint64 // position or offset where it was found
	Value  uint64 // the offending value
	Reason string // the rule it broke
}

func (e *CorruptError) Error() string {
	where := "segment header"
	if e.Region != "" {
		where = fmt.Sprintf("region %q", e.Region)
	}
	return fmt.Sprintf("corrupt segment: %s: %s = %d at %d: %s", where, e.Field, e.Value, e.Pos, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(region, field string, pos, value uint64, reason string) *CorruptError {
	return &CorruptError{Region: region, Field: field, Pos: pos, Value: value, Reason: reason}
}
