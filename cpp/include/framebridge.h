/* framebridge C ABI: shared-memory frame rings for C and cgo.
 *
 * Every function returns an int status: FRB_OK (0) or a negative FRB_E* code. Functions that can fail
 * take `char *err, size_t errlen`: on failure a message naming what went wrong is written there
 * (NUL-terminated, truncated to errlen; pass NULL/0 to skip). There is no thread-local "last error".
 * No C++ exception ever crosses this ABI.
 *
 * Handles: a frb_segment must outlive the writers, readers and mailboxes opened on it. A handle is used
 * by one thread at a time. Timeouts are in nanoseconds: < 0 waits forever, 0 never waits.
 */
#ifndef FRAMEBRIDGE_H
#define FRAMEBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRB_OK 0
#define FRB_ECORRUPT (-1)
#define FRB_EVERSION (-2)
#define FRB_EBUSY (-3)
#define FRB_EPEERDEAD (-4)
#define FRB_ETIMEOUT (-5)
#define FRB_EEMPTY (-6)
#define FRB_EFULL (-7)
#define FRB_EINVAL (-8)
#define FRB_ETOOLARGE (-9)
#define FRB_ENOTFOUND (-10)
#define FRB_EEXIST (-11)
#define FRB_ENOSPC (-12)
#define FRB_ESYSTEM (-13)
#define FRB_ESTATE (-14)
#define FRB_ECLOSED (-15)
#define FRB_EWRONGKIND (-16)
#define FRB_ENOMEM (-17)
#define FRB_ECANCELED (-18)
#define FRB_EREMOTESTATUS (-19) /* a channel call's response carried a non-zero status (C++ channel API) */

#define FRB_KIND_SPSC 1
#define FRB_KIND_MPSC 2
#define FRB_KIND_MAILBOX 3

#define FRB_LAYOUT_VERSION 1

typedef struct frb_segment frb_segment;
typedef struct frb_writer frb_writer;
typedef struct frb_reader frb_reader;
typedef struct frb_mailbox frb_mailbox;

/* One region of a segment to create: kind FRB_KIND_*; capacity = ring data bytes (power of two in
 * [4096, 2^30]) or mailbox payload bytes ([1, 2^20]). Regions are laid out rings first, then mailboxes. */
typedef struct frb_region_spec {
  const char *name;
  int kind;
  uint64_t capacity;
} frb_region_spec;

/* A frame from frb_reader_next: a read-only view into the ring, valid until frb_reader_release. */
typedef struct frb_frame {
  const uint8_t *data;
  size_t size;
  uint32_t type;
  uint64_t seq;
} frb_frame;

typedef struct frb_ring_counters {
  uint64_t tail, head;
  uint64_t frames_written, bytes_written, full_stalls, writer_waits, writer_wakes;
  uint64_t frames_read, bytes_read, reader_waits, reader_wakes, bad_records, abandoned_records;
} frb_ring_counters;

/* A static description of a status code ("ring full", ...). Never NULL. */
const char *frb_strerror(int status);

/* Segments. create: a named segment /dev/shm/NAME (0600, exclusive; NAME is 1..31 of [A-Za-z0-9._-]).
 * flags: 0, or FRB_CREATE_REPLACE_STALE to re-create NAME if its creator is dead (generation + 1).
 * create_memfd: an anonymous memfd segment (share it with frb_segment_fd). */
#define FRB_CREATE_REPLACE_STALE 1
int frb_segment_create(const char *name, const frb_region_spec *regions, size_t nregions, int flags, frb_segment **out,
                       char *err, size_t errlen);
int frb_segment_create_memfd(const char *name, const frb_region_spec *regions, size_t nregions, frb_segment **out,
                             char *err, size_t errlen);
int frb_segment_attach(const char *name, frb_segment **out, char *err, size_t errlen);
/* Attach by file descriptor; fd is duplicated (the caller keeps its own). */
int frb_segment_attach_fd(int fd, frb_segment **out, char *err, size_t errlen);
/* The segment's fd (to pass to another process), its base address and size. */
int frb_segment_fd(const frb_segment *seg);
void *frb_segment_base(const frb_segment *seg);
uint64_t frb_segment_size(const frb_segment *seg);
uint64_t frb_segment_generation(const frb_segment *seg);
/* 1 if the name now refers to another generation (or nothing): re-attach; 0 if not (or a memfd). */
int frb_segment_is_stale(const frb_segment *seg);
/* Remove a named segment's name (mappings stay valid). */
int frb_segment_unlink(frb_segment *seg, char *err, size_t errlen);
/* Unmap and free. NULL is a no-op. */
void frb_segment_close(frb_segment *seg);

/* Writers. spin_ns: the spin budget before sleeping (default 50 us; 0 = always sleep). */
int frb_writer_open(frb_segment *seg, const char *ring, frb_writer **out, char *err, size_t errlen);
void frb_writer_set_spin(frb_writer *w, int64_t spin_ns);
/* Claim room for n payload bytes of type `type` (!= 0); *data receives the writable view. */
int frb_writer_claim(frb_writer *w, uint32_t type, size_t n, int64_t timeout_ns, void **data, char *err, size_t errlen);
/* Publish the first m bytes of the claim (m <= n). */
int frb_writer_commit(frb_writer *w, size_t m, char *err, size_t errlen);
int frb_writer_abort(frb_writer *w);
/* Make a waiting frb_writer_claim (now, or the next one) return FRB_ECANCELED. Any thread. */
void frb_writer_interrupt(frb_writer *w);
size_t frb_writer_max_payload(const frb_writer *w);
int frb_writer_counters(const frb_writer *w, frb_ring_counters *out);
/* Abort any claim, give the writer slot back, free. NULL is a no-op. */
void frb_writer_close(frb_writer *w);

/* Readers. */
int frb_reader_open(frb_segment *seg, const char *ring, frb_reader **out, char *err, size_t errlen);
void frb_reader_set_spin(frb_reader *r, int64_t spin_ns);
/* The next frame: FRB_EEMPTY when timeout_ns == 0 and none is ready, FRB_ETIMEOUT after a timeout;
   FRB_EFULL at once (when waiting) if the unreleased frames fill the ring: call frb_reader_release. */
int frb_reader_next(frb_reader *r, int64_t timeout_ns, frb_frame *out, char *err, size_t errlen);
/* Make a waiting frb_reader_next (now, or the next one) return FRB_ECANCELED. Any thread. */
void frb_reader_interrupt(frb_reader *r);
/* Free every frame returned so far. */
int frb_reader_release(frb_reader *r);
int frb_reader_counters(const frb_reader *r, frb_ring_counters *out);
void frb_reader_close(frb_reader *r);

/* Mailboxes (latest value, seqlock). The first store takes the writer slot. */
int frb_mailbox_open(frb_segment *seg, const char *name, frb_mailbox **out, char *err, size_t errlen);
size_t frb_mailbox_capacity(const frb_mailbox *mb);
int frb_mailbox_store(frb_mailbox *mb, int32_t status, const void *payload, size_t n, char *err, size_t errlen);
/* Copy the value out: *version (seq/2, 0 = never stored), *status, min(cap, capacity) payload bytes. */
int frb_mailbox_load(frb_mailbox *mb, void *dst, size_t cap, uint64_t *version, int32_t *status, char *err,
                     size_t errlen);
/* Wait until a value newer than `version` is stored. */
int frb_mailbox_wait(frb_mailbox *mb, uint64_t version, int64_t timeout_ns);
void frb_mailbox_close(frb_mailbox *mb);

#ifdef __cplusplus
}
#endif

#endif /* FRAMEBRIDGE_H */
