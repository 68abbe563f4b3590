/**
 * framebridge for Java: zero-copy frame rings and mailboxes in shared memory, byte-compatible with the Go
 * ({@code shm}) and C++ libraries (layout v1, {@code docs/layout.md}).
 *
 * <p>{@link io.framebridge.Segment} creates or attaches a segment ({@code create}, {@code createMemfd},
 * {@code attach}, {@code attachFd}); {@link io.framebridge.Segment#writer} gives a
 * {@link io.framebridge.RingWriter} ({@code claim} / {@code commit} / {@code abort}),
 * {@link io.framebridge.Segment#reader} the ring's {@link io.framebridge.RingReader} ({@code next} /
 * {@code tryNext} / {@code release} / {@code drain}), {@link io.framebridge.Segment#mailbox} a
 * {@link io.framebridge.Mailbox} ({@code store} / {@code load}). {@link io.framebridge.Layout} holds every
 * offset of the layout. The data path is pure Java (VarHandles on the mapped buffer); JNI is used only to
 * sleep and wake (futex), for memfd and for fd passing.
 *
 * <h2>Caveats</h2>
 * <ul>
 *   <li>A {@link io.framebridge.Frame} is a reusable view: the same object for every frame of a reader or
 *       writer. A reader's frame is valid until {@code release()}; a writer's until commit or abort. Copy
 *       what you keep ({@code toArray()}, {@code getBytes}).</li>
 *   <li>Readers, writers and mailbox handles are not thread-safe: one per thread (an MPSC ring takes up to
 *       64 writers).</li>
 *   <li>Shared memory is untrusted: anything malformed is a {@link io.framebridge.CorruptSegmentException}
 *       naming field and value; a reader skips what it cannot parse (only the scribbling peer's frames are
 *       lost).</li>
 *   <li>A segment's Java mapping is at most 2 GiB and is unmapped by the GC after {@code close()}.</li>
 *   <li>A stalled (live) MPSC writer holding a claim stalls the ring; a dead one is recovered.</li>
 * </ul>
 */
package io.framebridge;
