// The C ABI (framebridge.h) over the header-only C++ library. Built with -fno-exceptions: nothing can
// throw across it. Allocation failures of handles are FRB_ENOMEM.
#include "framebridge.h"

#include <new>
#include <string>

#include "framebridge.hpp"

using framebridge::Deadline;
using framebridge::Errc;
using framebridge::Status;

struct frb_segment {
  framebridge::Segment seg;
};
struct frb_writer {
  framebridge::Writer w;
  framebridge::Claimed claim;
};
struct frb_reader {
  framebridge::Reader r;
};
struct frb_mailbox {
  framebridge::Mailbox mb;
};

namespace {

int Fail(const Status& st, char* err, std::size_t errlen) {
  if (err != nullptr && errlen > 0) {
    std::snprintf(err, errlen, "%s", st.message());
  }
  return static_cast<int>(st.code());
}

int FailMsg(int code, const char* msg, char* err, std::size_t errlen) {
  if (err != nullptr && errlen > 0) std::snprintf(err, errlen, "%s", msg);
  return code;
}

Deadline FromTimeout(std::int64_t timeout_ns) { return Deadline::After(timeout_ns); }

template <class T>
T* Make() {
  return new (std::nothrow) T();
}

void CopyCounters(const framebridge::RingCounters& c, frb_ring_counters* out) {
  out->tail = c.tail;
  out->head = c.head;
  out->frames_written = c.frames_written;
  out->bytes_written = c.bytes_written;
  out->full_stalls = c.full_stalls;
  out->writer_waits = c.writer_waits;
  out->writer_wakes = c.writer_wakes;
  out->frames_read = c.frames_read;
  out->bytes_read = c.bytes_read;
  out->reader_waits = c.reader_waits;
  out->reader_wakes = c.reader_wakes;
  out->bad_records = c.bad_records;
  out->abandoned_records = c.abandoned_records;
}

int BuildSpec(const frb_region_spec* regions, std::size_t n, framebridge::Spec* spec, char* err, std::size_t errlen) {
  if (regions == nullptr && n != 0) return FailMsg(FRB_EINVAL, "regions is NULL", err, errlen);
  for (std::size_t i = 0; i < n; ++i) {
    const frb_region_spec& r = regions[i];
    if (r.name == nullptr) return FailMsg(FRB_EINVAL, "region name is NULL", err, errlen);
    if (r.kind == FRB_KIND_SPSC || r.kind == FRB_KIND_MPSC) {
      spec->rings.push_back({r.name, static_cast<framebridge::RegionKind>(r.kind), r.capacity});
    } else if (r.kind == FRB_KIND_MAILBOX) {
      spec->mailboxes.push_back({r.name, r.capacity});
    } else {
      return FailMsg(FRB_EINVAL, "unknown region kind", err, errlen);
    }
  }
  return FRB_OK;
}

template <class Fn>
int CreateWith(Fn fn, const char* name, const frb_region_spec* regions, std::size_t n, frb_segment** out, char* err,
               std::size_t errlen) {
  if (out == nullptr) return FailMsg(FRB_EINVAL, "out is NULL", err, errlen);
  *out = nullptr;
  framebridge::Spec spec;
  int rc = BuildSpec(regions, n, &spec, err, errlen);
  if (rc != FRB_OK) return rc;
  auto r = fn(name == nullptr ? std::string() : std::string(name), spec);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_segment* s = Make<frb_segment>();
  if (s == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  s->seg = std::move(r.value());
  *out = s;
  return FRB_OK;
}

}  // namespace

extern "C" {

const char* frb_strerror(int status) {
  if (status == FRB_ENOMEM) return "out of memory";
  if (status > 0 || status < FRB_EREMOTESTATUS) return "unknown error";
  return framebridge::ErrcName(static_cast<Errc>(status));
}

int frb_segment_create(const char* name, const frb_region_spec* regions, size_t nregions, int flags, frb_segment** out,
                       char* err, size_t errlen) {
  if (name == nullptr) return FailMsg(FRB_EINVAL, "name is NULL", err, errlen);
  if ((flags & ~FRB_CREATE_REPLACE_STALE) != 0) return FailMsg(FRB_EINVAL, "unknown flags", err, errlen);
  framebridge::CreateOptions opts;
  opts.replace_stale = (flags & FRB_CREATE_REPLACE_STALE) != 0;
  return CreateWith(
      [opts](const std::string& n, const framebridge::Spec& s) { return framebridge::Segment::Create(n, s, opts); }, name,
      regions, nregions, out, err, errlen);
}

int frb_segment_create_memfd(const char* name, const frb_region_spec* regions, size_t nregions, frb_segment** out,
                             char* err, size_t errlen) {
  return CreateWith([](const std::string& n, const framebridge::Spec& s) { return framebridge::Segment::CreateMemfd(n, s); },
                    name, regions, nregions, out, err, errlen);
}

int frb_segment_attach(const char* name, frb_segment** out, char* err, size_t errlen) {
  if (name == nullptr || out == nullptr) return FailMsg(FRB_EINVAL, "name or out is NULL", err, errlen);
  *out = nullptr;
  auto r = framebridge::Segment::Attach(name);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_segment* s = Make<frb_segment>();
  if (s == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  s->seg = std::move(r.value());
  *out = s;
  return FRB_OK;
}

int frb_segment_attach_fd(int fd, frb_segment** out, char* err, size_t errlen) {
  if (out == nullptr) return FailMsg(FRB_EINVAL, "out is NULL", err, errlen);
  *out = nullptr;
  auto r = framebridge::Segment::AttachFd(fd);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_segment* s = Make<frb_segment>();
  if (s == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  s->seg = std::move(r.value());
  *out = s;
  return FRB_OK;
}

int frb_segment_fd(const frb_segment* seg) { return seg == nullptr ? FRB_EINVAL : seg->seg.fd(); }
void* frb_segment_base(const frb_segment* seg) { return seg == nullptr ? nullptr : seg->seg.base(); }
uint64_t frb_segment_size(const frb_segment* seg) { return seg == nullptr ? 0 : seg->seg.size(); }
uint64_t frb_segment_generation(const frb_segment* seg) { return seg == nullptr ? 0 : seg->seg.generation(); }

int frb_segment_is_stale(const frb_segment* seg) { return seg != nullptr && seg->seg.IsStale() ? 1 : 0; }

int frb_segment_unlink(frb_segment* seg, char* err, size_t errlen) {
  if (seg == nullptr) return FailMsg(FRB_EINVAL, "segment is NULL", err, errlen);
  Status st = seg->seg.Unlink();
  return st.ok() ? FRB_OK : Fail(st, err, errlen);
}

void frb_segment_close(frb_segment* seg) { delete seg; }

int frb_writer_open(frb_segment* seg, const char* ring, frb_writer** out, char* err, size_t errlen) {
  if (seg == nullptr || ring == nullptr || out == nullptr) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  *out = nullptr;
  auto r = framebridge::Writer::Open(seg->seg, ring);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_writer* w = Make<frb_writer>();
  if (w == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  w->w = std::move(r.value());
  *out = w;
  return FRB_OK;
}

void frb_writer_set_spin(frb_writer* w, int64_t spin_ns) {
  if (w != nullptr) w->w.set_spin_nanos(spin_ns);
}

int frb_writer_claim(frb_writer* w, uint32_t type, size_t n, int64_t timeout_ns, void** data, char* err, size_t errlen) {
  if (w == nullptr || data == nullptr) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  Status st = w->w.Claim(type, n, FromTimeout(timeout_ns), &w->claim);
  if (!st.ok()) {
    *data = nullptr;
    return Fail(st, err, errlen);
  }
  *data = w->claim.data;
  return FRB_OK;
}

int frb_writer_commit(frb_writer* w, size_t m, char* err, size_t errlen) {
  if (w == nullptr) return FailMsg(FRB_EINVAL, "writer is NULL", err, errlen);
  Status st = w->w.Commit(m);
  return st.ok() ? FRB_OK : Fail(st, err, errlen);
}

int frb_writer_abort(frb_writer* w) {
  if (w == nullptr) return FRB_EINVAL;
  return static_cast<int>(w->w.Abort().code());
}

void frb_writer_interrupt(frb_writer* w) {
  if (w != nullptr) w->w.Interrupt();
}

size_t frb_writer_max_payload(const frb_writer* w) { return w == nullptr ? 0 : w->w.max_payload(); }

int frb_writer_counters(const frb_writer* w, frb_ring_counters* out) {
  if (w == nullptr || out == nullptr || !w->w.valid()) return FRB_EINVAL;
  CopyCounters(w->w.counters(), out);
  return FRB_OK;
}

void frb_writer_close(frb_writer* w) { delete w; }

int frb_reader_open(frb_segment* seg, const char* ring, frb_reader** out, char* err, size_t errlen) {
  if (seg == nullptr || ring == nullptr || out == nullptr) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  *out = nullptr;
  auto r = framebridge::Reader::Open(seg->seg, ring);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_reader* rd = Make<frb_reader>();
  if (rd == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  rd->r = std::move(r.value());
  *out = rd;
  return FRB_OK;
}

void frb_reader_set_spin(frb_reader* r, int64_t spin_ns) {
  if (r != nullptr) r->r.set_spin_nanos(spin_ns);
}

int frb_reader_next(frb_reader* r, int64_t timeout_ns, frb_frame* out, char* err, size_t errlen) {
  if (r == nullptr || out == nullptr) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  framebridge::Frame f;
  Status st = r->r.Next(FromTimeout(timeout_ns), &f);
  if (!st.ok()) return Fail(st, err, errlen);
  out->data = f.data;
  out->size = f.size;
  out->type = f.type;
  out->seq = f.seq;
  return FRB_OK;
}

void frb_reader_interrupt(frb_reader* r) {
  if (r != nullptr) r->r.Interrupt();
}

int frb_reader_release(frb_reader* r) {
  if (r == nullptr) return FRB_EINVAL;
  return static_cast<int>(r->r.Release().code());
}

int frb_reader_counters(const frb_reader* r, frb_ring_counters* out) {
  if (r == nullptr || out == nullptr || !r->r.valid()) return FRB_EINVAL;
  CopyCounters(r->r.counters(), out);
  return FRB_OK;
}

void frb_reader_close(frb_reader* r) { delete r; }

int frb_mailbox_open(frb_segment* seg, const char* name, frb_mailbox** out, char* err, size_t errlen) {
  if (seg == nullptr || name == nullptr || out == nullptr) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  *out = nullptr;
  auto r = framebridge::Mailbox::Open(seg->seg, name);
  if (!r.ok()) return Fail(r.status(), err, errlen);
  frb_mailbox* mb = Make<frb_mailbox>();
  if (mb == nullptr) return FailMsg(FRB_ENOMEM, "out of memory", err, errlen);
  mb->mb = std::move(r.value());
  *out = mb;
  return FRB_OK;
}

size_t frb_mailbox_capacity(const frb_mailbox* mb) { return mb == nullptr ? 0 : mb->mb.capacity(); }

int frb_mailbox_store(frb_mailbox* mb, int32_t status, const void* payload, size_t n, char* err, size_t errlen) {
  if (mb == nullptr || (payload == nullptr && n != 0)) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  Status st = mb->mb.Store(status, payload, n);
  return st.ok() ? FRB_OK : Fail(st, err, errlen);
}

int frb_mailbox_load(frb_mailbox* mb, void* dst, size_t cap, uint64_t* version, int32_t* status, char* err,
                     size_t errlen) {
  if (mb == nullptr || (dst == nullptr && cap != 0)) return FailMsg(FRB_EINVAL, "NULL argument", err, errlen);
  framebridge::MailboxValue v;
  Status st = mb->mb.Load(dst, cap, &v);
  if (!st.ok()) return Fail(st, err, errlen);
  if (version != nullptr) *version = v.version;
  if (status != nullptr) *status = v.status;
  return FRB_OK;
}

int frb_mailbox_wait(frb_mailbox* mb, uint64_t version, int64_t timeout_ns) {
  if (mb == nullptr) return FRB_EINVAL;
  return static_cast<int>(mb->mb.WaitNewer(version, FromTimeout(timeout_ns)).code());
}

void frb_mailbox_close(frb_mailbox* mb) { delete mb; }

}  // extern "C"
