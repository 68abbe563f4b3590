#include <stdio.h>
#include <string.h>

#include <framebridge.h>

int main(void) {
  char err[256];
  frb_region_spec spec = {"r", FRB_KIND_SPSC, 4096};
  frb_segment *seg;
  frb_writer *w;
  frb_reader *r;
  void *data;
  frb_frame f;
  if (frb_segment_create_memfd("consumer", &spec, 1, &seg, err, sizeof err) != FRB_OK) return 1;
  if (frb_writer_open(seg, "r", &w, err, sizeof err) != FRB_OK) return 1;
  if (frb_reader_open(seg, "r", &r, err, sizeof err) != FRB_OK) return 1;
  if (frb_writer_claim(w, 1, 5, -1, &data, err, sizeof err) != FRB_OK) return 1;
  memcpy(data, "hello", 5);
  if (frb_writer_commit(w, 5, err, sizeof err) != FRB_OK) return 1;
  if (frb_reader_next(r, 0, &f, err, sizeof err) != FRB_OK || f.size != 5) return 1;
  frb_reader_close(r);
  frb_writer_close(w);
  frb_segment_close(seg);
  printf("ok\n");
  return 0;
}
