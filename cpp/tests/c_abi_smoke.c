/* The C ABI used from C (compiled as C11): create, write, read, mailbox, errors. */
#include <string.h>

#include "framebridge.h"

/* Returns 0 on success, else the line that failed. */
int frb_c_smoke(void) {
  char err[256];
  frb_region_spec regions[2] = {{"r", FRB_KIND_MPSC, 4096}, {"m", FRB_KIND_MAILBOX, 32}};
  frb_segment *seg = NULL;
  if (frb_segment_create_memfd("smoke", regions, 2, &seg, err, sizeof err) != FRB_OK) return __LINE__;
  frb_writer *w = NULL;
  frb_reader *r = NULL;
  if (frb_writer_open(seg, "r", &w, err, sizeof err) != FRB_OK) return __LINE__;
  if (frb_reader_open(seg, "r", &r, err, sizeof err) != FRB_OK) return __LINE__;
  void *data = NULL;
  if (frb_writer_claim(w, 5, 11, -1, &data, err, sizeof err) != FRB_OK) return __LINE__;
  memcpy(data, "hello world", 11);
  if (frb_writer_commit(w, 11, err, sizeof err) != FRB_OK) return __LINE__;
  frb_frame f;
  if (frb_reader_next(r, 0, &f, err, sizeof err) != FRB_OK) return __LINE__;
  if (f.size != 11 || f.type != 5 || f.seq != 1 || memcmp(f.data, "hello world", 11) != 0) return __LINE__;
  if (frb_reader_next(r, 0, &f, err, sizeof err) != FRB_EEMPTY) return __LINE__;
  if (strstr(err, "empty") == NULL) return __LINE__;
  if (frb_reader_release(r) != FRB_OK) return __LINE__;
  if (frb_writer_claim(w, 1, 100000, 0, &data, err, sizeof err) != FRB_ETOOLARGE) return __LINE__;
  frb_mailbox *mb = NULL;
  if (frb_mailbox_open(seg, "m", &mb, err, sizeof err) != FRB_OK) return __LINE__;
  if (frb_mailbox_store(mb, 42, "abc", 3, err, sizeof err) != FRB_OK) return __LINE__;
  char buf[32];
  uint64_t version = 0;
  int32_t status = 0;
  if (frb_mailbox_load(mb, buf, sizeof buf, &version, &status, err, sizeof err) != FRB_OK) return __LINE__;
  if (version != 1 || status != 42 || memcmp(buf, "abc", 3) != 0) return __LINE__;
  frb_ring_counters c;
  if (frb_reader_counters(r, &c) != FRB_OK || c.frames_read != 1) return __LINE__;
  frb_mailbox_close(mb);
  frb_reader_close(r);
  frb_writer_close(w);
  frb_segment_close(seg);
  frb_segment_close(NULL);
  return 0;
}
