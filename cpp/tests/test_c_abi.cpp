// The C ABI: status codes, messages returned in the same call, handles.
#include "framebridge.h"

#include "helpers.hpp"

extern "C" int frb_c_smoke(void);

namespace {

TEST(CAbi, SmokeFromC) { EXPECT_EQ(frb_c_smoke(), 0) << "failed at c_abi_smoke.c line"; }

TEST(CAbi, CodesMatchTheCppErrc) {
  EXPECT_EQ(FRB_ECORRUPT, static_cast<int>(framebridge::Errc::kCorrupt));
  EXPECT_EQ(FRB_EVERSION, static_cast<int>(framebridge::Errc::kVersionMismatch));
  EXPECT_EQ(FRB_EBUSY, static_cast<int>(framebridge::Errc::kBusy));
  EXPECT_EQ(FRB_EPEERDEAD, static_cast<int>(framebridge::Errc::kPeerDead));
  EXPECT_EQ(FRB_ETIMEOUT, static_cast<int>(framebridge::Errc::kTimeout));
  EXPECT_EQ(FRB_EEMPTY, static_cast<int>(framebridge::Errc::kEmpty));
  EXPECT_EQ(FRB_EFULL, static_cast<int>(framebridge::Errc::kFull));
  EXPECT_EQ(FRB_EINVAL, static_cast<int>(framebridge::Errc::kInvalidArgument));
  EXPECT_EQ(FRB_ETOOLARGE, static_cast<int>(framebridge::Errc::kTooLarge));
  EXPECT_EQ(FRB_ENOTFOUND, static_cast<int>(framebridge::Errc::kNotFound));
  EXPECT_EQ(FRB_EEXIST, static_cast<int>(framebridge::Errc::kExists));
  EXPECT_EQ(FRB_ENOSPC, static_cast<int>(framebridge::Errc::kNoSpace));
  EXPECT_EQ(FRB_ESYSTEM, static_cast<int>(framebridge::Errc::kSystem));
  EXPECT_EQ(FRB_ESTATE, static_cast<int>(framebridge::Errc::kState));
  EXPECT_EQ(FRB_ECLOSED, static_cast<int>(framebridge::Errc::kClosed));
  EXPECT_EQ(FRB_EWRONGKIND, static_cast<int>(framebridge::Errc::kWrongKind));
  EXPECT_EQ(FRB_ECANCELED, static_cast<int>(framebridge::Errc::kCanceled));
  EXPECT_EQ(FRB_EREMOTESTATUS, static_cast<int>(framebridge::Errc::kRemoteStatus));
  EXPECT_STREQ(frb_strerror(FRB_ECANCELED), "canceled");
  EXPECT_STREQ(frb_strerror(FRB_EREMOTESTATUS), "remote status");
  EXPECT_STREQ(frb_strerror(FRB_EREMOTESTATUS - 1), "unknown error");
  EXPECT_STREQ(frb_strerror(FRB_OK), "ok");
  EXPECT_STREQ(frb_strerror(FRB_EFULL), "ring full");
  EXPECT_STREQ(frb_strerror(-1000), "unknown error");
  EXPECT_STREQ(frb_strerror(FRB_ENOMEM), "out of memory");
}

TEST(CAbi, ErrorsComeWithAMessageInTheSameCall) {
  char err[128] = "untouched";
  frb_segment* seg = reinterpret_cast<frb_segment*>(1);
  EXPECT_EQ(frb_segment_attach("frb-no-such-segment-xyz", &seg, err, sizeof err), FRB_ENOTFOUND);
  EXPECT_EQ(seg, nullptr);
  EXPECT_NE(std::strstr(err, "frb-no-such-segment-xyz"), nullptr) << err;
  char tiny[8];
  EXPECT_EQ(frb_segment_attach("frb-no-such-segment-xyz", &seg, tiny, sizeof tiny), FRB_ENOTFOUND);
  EXPECT_EQ(std::strlen(tiny), 7u);  // truncated, NUL-terminated
  EXPECT_EQ(frb_segment_attach("frb-no-such-segment-xyz", &seg, nullptr, 0), FRB_ENOTFOUND);
  frb_region_spec bad = {"r", FRB_KIND_SPSC, 1000};
  EXPECT_EQ(frb_segment_create_memfd("x", &bad, 1, &seg, err, sizeof err), FRB_EINVAL);
  EXPECT_NE(std::strstr(err, "power of two"), nullptr) << err;
  frb_region_spec kind = {"r", 9, 4096};
  EXPECT_EQ(frb_segment_create_memfd("x", &kind, 1, &seg, err, sizeof err), FRB_EINVAL);
}

TEST(CAbi, NamedSegmentsAndMailboxWaits) {
  const std::string name = "frb-cabi-" + std::to_string(getpid());
  frb_region_spec spec[2] = {{"r", FRB_KIND_MPSC, 8192}, {"m", FRB_KIND_MAILBOX, 16}};
  frb_segment* a = nullptr;
  frb_segment* b = nullptr;
  char err[256];
  ASSERT_EQ(frb_segment_create(name.c_str(), spec, 2, 0, &a, err, sizeof err), FRB_OK) << err;
  EXPECT_EQ(frb_segment_create(name.c_str(), spec, 2, 0, &b, err, sizeof err), FRB_EEXIST);
  EXPECT_EQ(frb_segment_create(name.c_str(), spec, 2, FRB_CREATE_REPLACE_STALE, &b, err, sizeof err), FRB_EEXIST);
  EXPECT_EQ(frb_segment_create(name.c_str(), spec, 2, 8, &b, err, sizeof err), FRB_EINVAL);
  ASSERT_EQ(frb_segment_attach(name.c_str(), &b, err, sizeof err), FRB_OK) << err;
  EXPECT_EQ(frb_segment_is_stale(b), 0);
  frb_mailbox* mb = nullptr;
  ASSERT_EQ(frb_mailbox_open(b, "m", &mb, err, sizeof err), FRB_OK);
  EXPECT_EQ(frb_mailbox_capacity(mb), 16u);
  EXPECT_EQ(frb_mailbox_wait(mb, 0, 1000000), FRB_ETIMEOUT);
  EXPECT_EQ(frb_mailbox_store(mb, 1, "0123456789abcdefX", 17, err, sizeof err), FRB_ETOOLARGE);
  ASSERT_EQ(frb_mailbox_store(mb, 1, "hi", 2, err, sizeof err), FRB_OK);
  EXPECT_EQ(frb_mailbox_wait(mb, 0, -1), FRB_OK);
  frb_mailbox_close(mb);
  EXPECT_EQ(frb_mailbox_open(b, "r", &mb, err, sizeof err), FRB_EWRONGKIND);
  EXPECT_EQ(mb, nullptr);
  ASSERT_EQ(frb_segment_unlink(a, err, sizeof err), FRB_OK);
  EXPECT_EQ(frb_segment_is_stale(b), 1);
  EXPECT_EQ(frb_segment_unlink(a, err, sizeof err), FRB_ESYSTEM);
  frb_segment_close(b);
  frb_segment_close(a);
}

TEST(CAbi, AttachByFdAndTimeouts) {
  frb_region_spec spec = {"r", FRB_KIND_SPSC, 4096};
  frb_segment* a = nullptr;
  frb_segment* b = nullptr;
  char err[256];
  ASSERT_EQ(frb_segment_create_memfd("x", &spec, 1, &a, err, sizeof err), FRB_OK) << err;
  ASSERT_EQ(frb_segment_attach_fd(frb_segment_fd(a), &b, err, sizeof err), FRB_OK) << err;
  EXPECT_EQ(frb_segment_size(b), 12288u);
  EXPECT_EQ(frb_segment_generation(b), 1u);
  frb_reader* r = nullptr;
  ASSERT_EQ(frb_reader_open(b, "r", &r, err, sizeof err), FRB_OK);
  frb_reader* r2 = nullptr;
  EXPECT_EQ(frb_reader_open(a, "r", &r2, err, sizeof err), FRB_EBUSY);
  frb_reader_set_spin(r, 0);
  frb_frame f;
  EXPECT_EQ(frb_reader_next(r, 1000000, &f, err, sizeof err), FRB_ETIMEOUT);
  frb_writer* w = nullptr;
  ASSERT_EQ(frb_writer_open(a, "r", &w, err, sizeof err), FRB_OK);
  EXPECT_EQ(frb_writer_max_payload(w), 2024u);
  EXPECT_EQ(frb_writer_commit(w, 1, err, sizeof err), FRB_ESTATE);
  void* data;
  ASSERT_EQ(frb_writer_claim(w, 1, 10, -1, &data, err, sizeof err), FRB_OK);
  EXPECT_EQ(frb_writer_abort(w), FRB_OK);
  EXPECT_EQ(frb_writer_abort(w), FRB_ESTATE);
  frb_writer_close(w);
  frb_reader_close(r);
  frb_segment_close(b);
  frb_segment_close(a);
}

}  // namespace
