// codec_server: the C++ side of `make demo`. A channel server whose one service converts audio chunks from
// 16-bit PCM to 32-bit float PCM (MediaChunk in, MediaChunk out), built in place in the response ring.
//
//   codec_server SOCKET_PATH
//
// It prints "listening" once clients can dial, and serves until its standard input reaches end of file.
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "framebridge/channel.hpp"

namespace fb = framebridge;
namespace ch = framebridge::channel;
namespace fr = framebridge::frames;

namespace {

// S16LE -> F32LE: every sample scaled to [-1, 1). The only "codec" work the demo needs to show where the
// time goes: the bytes are read where the Go client built them and written where it will read them.
void Convert(const ch::Request& req, ch::Responder& r) {
  const fr::Envelope* e = req.envelope;
  const fr::MediaChunk* in = e->payload_as_MediaChunk();
  if (in == nullptr || in->format() != fr::MediaFormat::PcmS16le || in->data() == nullptr || in->data()->size() % 2 != 0) {
    r.Fail(ch::code::kInvalidArgument, "codec_server converts MediaChunk{format PcmS16le} with whole samples only");
    return;
  }
  r.Reply([&](flatbuffers::FlatBufferBuilder& b) {
    const std::size_t samples = in->data()->size() / 2;
    const std::uint8_t* src = in->data()->data();
    std::uint8_t* dst = nullptr;
    auto data = b.CreateUninitializedVector(samples * 4, &dst);
    for (std::size_t i = 0; i < samples; ++i) {
      const auto s = static_cast<std::int16_t>(static_cast<std::uint16_t>(src[2 * i] | (src[2 * i + 1] << 8)));
      const float f = static_cast<float>(s) / 32768.0f;
      std::memcpy(dst + 4 * i, &f, 4);  // little-endian host (x86-64, arm64)
    }
    auto codec = b.CreateString("pcm_f32le");
    ch::Message m;
    m.sequence = e->sequence();
    m.payload_type = fr::Payload::MediaChunk;
    m.payload = fr::CreateMediaChunk(b, codec, fr::MediaFormat::PcmF32le, in->stream_id(), in->pts_ns(), in->dts_ns(),
                                     in->duration_ns(), in->sample_rate(), in->channels(), 0, 0, in->keyframe(), data)
                    .Union();
    return m;
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: codec_server SOCKET_PATH\n");
    return 2;
  }
  ch::ServerOptions opts;
  opts.response_ring_bytes = 1 << 20;  // float output is twice the input
  auto srv = ch::Server::Listen(argv[1], Convert, opts);
  if (!srv.ok()) {
    std::fprintf(stderr, "codec_server: %s\n", srv.status().message());
    return 1;
  }
  std::printf("listening\n");
  std::fflush(stdout);
  char buf[256];
  while (read(0, buf, sizeof buf) > 0) {
  }
  (*srv)->Close();
  return 0;
}
