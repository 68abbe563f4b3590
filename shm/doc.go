// Package shm is framebridge's core: shared-memory segments holding frame
// rings and mailboxes in layout v1 (docs/layout.md), readable and writable
// byte for byte by the C++ and Java libraries.
//
// A segment is created once (Create for a name under /dev/shm, CreateMemfd
// for an anonymous memfd whose descriptor is passed to peers) and attached by
// every other process (Attach, AttachFd). It holds rings and mailboxes:
//
//   - A ring carries variable-length frames from its writers to its single
//     reader. Writer.Claim returns a view of n bytes inside the ring;
//     the caller fills it in place and Commits (possibly fewer bytes) or
//     Aborts. Reader.Next returns a view of the next frame in place;
//     Release hands everything read so far back to the writers. SPSC rings
//     take one writer; MPSC rings up to 64, each in any process.
//   - Waiting costs no CPU beyond a short spin: an idle reader sleeps on a
//     futex word in the ring, and a writer makes a system call only when a
//     peer announced that it sleeps.
//   - A Mailbox keeps the latest value of something as a seqlock.
//
// Every value read from shared memory is validated before use; a peer that
// writes garbage yields ErrCorrupt errors (see CorruptError), never a panic
// or a read outside the segment. A writer killed between Claim and Commit
// leaves a claim the reader skips as soon as it sees the writer is dead.
//
// # Caveats
//
//   - A frame's Data is valid only until the Reader's next Release: copy
//     what you keep, and strings.Clone strings built from it.
//   - Views returned by Claim and Next alias shared memory; a peer may still
//     be writing bytes it does not own. Validate frame contents as untrusted input.
//   - Do not Close a Segment while its Writers, Readers or Mailboxes are in
//     use: their views point into the mapping. Handles merely left open are
//     safe (a pending context wake-up no longer touches a closed segment).
//   - Writer, Reader and Mailbox are not safe for concurrent use; give each
//     goroutine its own writer (MPSC) and keep one goroutine per reader.
//   - Blocking calls pin an OS thread while asleep in the futex.
package shm
