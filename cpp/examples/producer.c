/* Producer in C: attach an existing segment and write one frame per line of stdin. */
#include <stdio.h>
#include <string.h>

#include <framebridge.h>

int main(void) {
  char err[256], line[512];
  frb_segment *seg;
  frb_writer *w;
  if (frb_segment_attach("demo", &seg, err, sizeof err) != FRB_OK) return fprintf(stderr, "%s\n", err), 1;
  if (frb_writer_open(seg, "requests", &w, err, sizeof err) != FRB_OK) return fprintf(stderr, "%s\n", err), 1;
  while (fgets(line, sizeof line, stdin) != NULL) {
    size_t n = strlen(line);
    void *data;
    int rc = frb_writer_claim(w, 1, n, -1 /* wait forever */, &data, err, sizeof err);
    if (rc != FRB_OK) return fprintf(stderr, "claim: %s (%s)\n", err, frb_strerror(rc)), 1;
    memcpy(data, line, n);
    if (frb_writer_commit(w, n, err, sizeof err) != FRB_OK) return fprintf(stderr, "%s\n", err), 1;
  }
  frb_writer_close(w);
  frb_segment_close(seg);
  return 0;
}
