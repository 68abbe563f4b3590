// libFuzzer target: attach + read of arbitrary segment bytes (run by `make -C cpp fuzz`, ASan+UBSan).
//
// Input byte 0 picks the mode:
//   even: the rest is a whole segment image (magic, header, regions, rings, mailboxes as the fuzzer likes);
//   odd:  a valid template segment (SPSC, MPSC and mailbox regions with frames, padding and a pending
//         claim) is patched with (u16 offset, u8 length, bytes) edits from the rest of the input.
// Either way the image goes into a private memfd; if it attaches, every ring is drained with TryNext
// (errors included), a writer tries a claim, and every mailbox is loaded. Anything a hostile peer writes
// must give an error value, never a crash, a sanitizer report or a hang.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "framebridge.hpp"

namespace fb = framebridge;

namespace {

std::vector<std::uint8_t> BuildTemplate() {
  fb::Spec spec;
  spec.rings.push_back({"s", fb::RegionKind::kSPSC, 4096});
  spec.rings.push_back({"m", fb::RegionKind::kMPSC, 4096});
  spec.mailboxes.push_back({"b", 64});
  auto seg = fb::Segment::CreateMemfd("tmpl", spec);
  std::vector<std::uint8_t> out;
  if (!seg.ok()) return out;
  std::vector<fb::Writer> keep;  // writers stay open so their pending claims stay pending in the copy
  for (const char* ring : {"s", "m"}) {
    auto w = seg->Writer(ring);
    auto r = seg->Reader(ring);
    if (!w.ok() || !r.ok()) return out;
    for (int i = 0; i < 40; ++i) {  // wraps once, leaving padding
      auto c = w->Claim(static_cast<std::uint32_t>(1 + i % 3), static_cast<std::size_t>(40 + i * 7));
      if (!c.ok()) break;
      std::memset(c->data, i, c->size);
      w->Commit(c->size - static_cast<std::size_t>(i % 5));
      if (i < 30) {
        fb::Frame f;
        r->TryNext(&f);
        r->Release();
      }
    }
    auto c = w->Claim(9, 16);  // a pending claim (MPSC: negative size)
    (void)c;
    r->Close();
    keep.push_back(std::move(w.value()));
  }
  auto mb = seg->Mailbox("b");
  if (mb.ok()) mb->Store(5, "mailbox", 7);
  out.assign(seg->base(), seg->base() + seg->size());
  return out;
}

void Exercise(const std::vector<std::uint8_t>& image) {
  int fd = fb::sys::MemfdCreate("fuzz", 0);
  if (fd < 0) return;
  std::size_t off = 0;
  while (off < image.size()) {
    ssize_t n = write(fd, image.data() + off, image.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  auto seg = fb::Segment::AttachFd(fd);
  close(fd);
  if (!seg.ok()) return;
  for (std::size_t i = 0; i < seg->region_count(); ++i) {
    const fb::Region reg = seg->region(i);
    const std::string name(reg.name);
    if (reg.kind == fb::RegionKind::kMailbox) {
      auto mb = seg->Mailbox(name);
      if (!mb.ok()) continue;
      std::vector<std::uint8_t> buf(mb->capacity());
      fb::MailboxValue v;
      mb->Load(buf.data(), buf.size(), &v, fb::Deadline::Try());
      mb->Store(1, buf.data(), buf.size() / 2);
      continue;
    }
    auto r = seg->Reader(name);
    if (r.ok()) {
      std::uint64_t sum = 0;
      for (int k = 0; k < 600; ++k) {
        fb::Frame f;
        fb::Status st = r->TryNext(&f);
        if (st.code() == fb::Errc::kEmpty) break;
        if (st.ok()) {
          for (std::size_t b = 0; b < f.size; ++b) sum += f.data[b];  // touch every delivered byte
        }
        if (k % 7 == 0) r->Release();
      }
      r->Release();
      if (sum == 0xFFFFFFFFFFFFFFFFULL) __builtin_trap();  // keep the reads
    }
    auto w = seg->Writer(name);
    if (w.ok()) {
      fb::Claimed c;
      if (w->Claim(3, 100, fb::Deadline::Try(), &c).ok()) {
        std::memset(c.data, 0x5A, c.size);
        w->Commit(50);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::vector<std::uint8_t> tmpl = BuildTemplate();
  if ((data[0] & 1) == 0) {
    Exercise(std::vector<std::uint8_t>(data + 1, data + size));
    return 0;
  }
  std::vector<std::uint8_t> image = tmpl;
  if (image.empty()) return 0;
  std::size_t i = 1;
  while (i + 3 <= size) {
    std::size_t off = static_cast<std::size_t>(data[i]) | static_cast<std::size_t>(data[i + 1]) << 8;
    std::size_t len = data[i + 2] % 16;
    i += 3;
    // Offsets address the header page and the start of each ring/mailbox page with equal weight.
    off = (off % 6) * 4096 + (off / 6) % 4096;
    for (std::size_t k = 0; k < len && i < size; ++k, ++i) {
      if (off + k < image.size()) image[off + k] = data[i];
    }
  }
  Exercise(image);
  return 0;
}
