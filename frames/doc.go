// Package frames builds and reads typed frames — messages of
// schemas/frame.fbs (FlatBuffers, ring frame type 16) and schemas/frame.capnp
// (Cap'n Proto, type 17) — in place in a ring's shared memory. The encoding in
// the ring is specified in docs/schemas.md; the generated code lives in the
// sub-packages fb (FlatBuffers) and framescapnp (Cap'n Proto).
//
// Writing: a Writer claims ring space, points a reusable flatbuffers.Builder at
// exactly the claimed view (capped at its length), lets the caller build back
// to front, rewrites the payload's first 8 bytes as the root offset and file
// identifier so that the payload is a standard FlatBuffers buffer whatever gap
// the claim left in front of the body, and commits. Nothing is copied unless a
// frame outgrows its claim (Stats.Fallbacks); the steady state allocates
// nothing. CapnpWriter does the same with a single-segment Cap'n Proto arena.
//
// Reading: Open verifies a payload with Verify — a verifier for frame.fbs in
// the manner of the C++ flatbuffers::Verifier (offsets, vtables, strings,
// vectors, unions, depth and table-count limits) — before pointing an
// fb.Envelope at it. CapnpReader opens Cap'n Proto frames with traversal and
// depth limits. Describe your own FlatBuffers schema with Table and Field to
// verify it with VerifyTable.
//
// # Caveats
//
//   - Use generated accessors only on a payload that Open (or VerifyTable)
//     accepted: flatbuffers-go trusts its input and would panic, or read
//     another frame's bytes, on a corrupt one.
//   - Strings and byte vectors returned by accessors alias the ring: they are
//     valid until the Reader's Release; copy what you keep (strings.Clone).
//   - A writer process may still change a frame's bytes after the reader
//     verified them (a buggy or hostile peer). Go's accessors are bounded by
//     the verified offsets only as long as the bytes do not change; copy the
//     payload first (one copy into a private buffer) if a writer is not
//     trusted to leave committed frames alone. See docs/schemas.md.
//   - Writer and CapnpWriter are not safe for concurrent use.
//   - A CapnpWriter build function may run more than once (a frame that
//     outgrows its claim is rebuilt in a bigger one): it must only build.
package frames
