/* Consumer in C: read frames for up to a second each, print them, release in batches. */
#include <stdio.h>

#include <framebridge.h>

int main(void) {
  char err[256];
  frb_segment *seg;
  frb_reader *r;
  frb_frame f;
  int rc, n = 0;
  if (frb_segment_attach("demo", &seg, err, sizeof err) != FRB_OK) return fprintf(stderr, "%s\n", err), 1;
  if (frb_reader_open(seg, "requests", &r, err, sizeof err) != FRB_OK) return fprintf(stderr, "%s\n", err), 1;
  while ((rc = frb_reader_next(r, 1000000000 /* 1 s */, &f, err, sizeof err)) == FRB_OK) {
    printf("seq %llu type %u: %.*s", (unsigned long long)f.seq, f.type, (int)f.size, (const char *)f.data);
    if (++n % 32 == 0) frb_reader_release(r); /* f.data is valid until here */
  }
  if (rc != FRB_ETIMEOUT) fprintf(stderr, "next: %s\n", err);
  frb_reader_close(r); /* releases the rest */
  frb_segment_close(seg);
  return rc == FRB_ETIMEOUT ? 0 : 1;
}
