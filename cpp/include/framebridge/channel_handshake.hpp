// Channel handshake packets (docs/channels.md §2): the 64-byte Hello (client -> server) and the 128-byte
// Welcome (server -> client). Every offset is a named constant built by accumulation; the packets are
// encoded and decoded field by field, little-endian, never by casting a struct.
//
//   Hello, 64 bytes                         Welcome, 128 bytes
//   0  u32 HelloMagic "FHEL"                0   u32 WelcomeMagic "FWCL"
//   4  u16 ProtocolVersion                  4   u16 ProtocolVersion
//   6  u16 LayoutVersion                    6   u16 LayoutVersion
//   8  u32 RequestRingBytes                 8   u32 Status
//   12 u32 ResponseRingBytes                12  u32 RequestRingBytes
//   16 u32 ClientPid                        16  u32 ResponseRingBytes
//   20 u32 Flags                            20  u32 MaxFrameBytes
//   24 .. 64 reserved (zero)                24  u64 ConnectionGeneration
//                                           32  u32 ServerPid
//                                           36  u16 MessageLength (0..88)
//                                           38  u16 reserved
//                                           40  88 bytes Message (UTF-8, zero padded)
#ifndef FRAMEBRIDGE_CHANNEL_HANDSHAKE_HPP
#define FRAMEBRIDGE_CHANNEL_HANDSHAKE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace framebridge {
namespace channel {
namespace handshake {

constexpr std::uint32_t kHelloMagic = 0x4C454846;    // "FHEL" little-endian
constexpr std::uint32_t kWelcomeMagic = 0x4C435746;  // "FWCL" little-endian
constexpr std::uint16_t kProtocolVersion = 1;
constexpr std::uint16_t kLayoutVersion = 1;

// Hello.
constexpr std::size_t kHelloMagicOffset = 0;
constexpr std::size_t kHelloProtocolVersionOffset = kHelloMagicOffset + 4;
constexpr std::size_t kHelloLayoutVersionOffset = kHelloProtocolVersionOffset + 2;
constexpr std::size_t kHelloRequestRingBytesOffset = kHelloLayoutVersionOffset + 2;
constexpr std::size_t kHelloResponseRingBytesOffset = kHelloRequestRingBytesOffset + 4;
constexpr std::size_t kHelloClientPidOffset = kHelloResponseRingBytesOffset + 4;
constexpr std::size_t kHelloFlagsOffset = kHelloClientPidOffset + 4;
constexpr std::size_t kHelloReservedOffset = kHelloFlagsOffset + 4;
constexpr std::size_t kHelloLength = 64;
static_assert(kHelloReservedOffset == 24, "docs/channels.md §2: Hello reserved bytes start at 24");

// Welcome.
constexpr std::size_t kWelcomeMagicOffset = 0;
constexpr std::size_t kWelcomeProtocolVersionOffset = kWelcomeMagicOffset + 4;
constexpr std::size_t kWelcomeLayoutVersionOffset = kWelcomeProtocolVersionOffset + 2;
constexpr std::size_t kWelcomeStatusOffset = kWelcomeLayoutVersionOffset + 2;
constexpr std::size_t kWelcomeRequestRingBytesOffset = kWelcomeStatusOffset + 4;
constexpr std::size_t kWelcomeResponseRingBytesOffset = kWelcomeRequestRingBytesOffset + 4;
constexpr std::size_t kWelcomeMaxFrameBytesOffset = kWelcomeResponseRingBytesOffset + 4;
constexpr std::size_t kWelcomeGenerationOffset = kWelcomeMaxFrameBytesOffset + 4;
constexpr std::size_t kWelcomeServerPidOffset = kWelcomeGenerationOffset + 8;
constexpr std::size_t kWelcomeMessageLengthOffset = kWelcomeServerPidOffset + 4;
constexpr std::size_t kWelcomeReservedOffset = kWelcomeMessageLengthOffset + 2;
constexpr std::size_t kWelcomeMessageOffset = kWelcomeReservedOffset + 2;
constexpr std::size_t kWelcomeMessageCapacity = 88;
constexpr std::size_t kWelcomeLength = kWelcomeMessageOffset + kWelcomeMessageCapacity;
static_assert(kWelcomeMessageOffset == 40, "docs/channels.md §2: Message at 40");
static_assert(kWelcomeLength == 128, "docs/channels.md §2: Welcome is 128 bytes");

// Hello flags: none defined; any set bit is refused with BadRequest.
constexpr std::uint32_t kKnownHelloFlags = 0;

// Ring sizes a client may ask for (0 = server default).
constexpr std::uint32_t kMinRingBytes = 4096;
constexpr std::uint32_t kMaxRingBytes = 1u << 30;

// Welcome status values.
enum class WelcomeStatus : std::uint32_t {
  kOk = 0,
  kVersionMismatch = 1,
  kPermissionDenied = 2,
  kBadRequest = 3,
  kBusy = 4,
  kInternal = 5,
};

inline const char* WelcomeStatusName(std::uint32_t s) {
  switch (s) {
    case 0: return "OK";
    case 1: return "VersionMismatch";
    case 2: return "PermissionDenied";
    case 3: return "BadRequest";
    case 4: return "Busy";
    case 5: return "Internal";
  }
  return "unknown status";
}

namespace detail {
inline void Put16(std::uint8_t* p, std::size_t off, std::uint16_t v) {
  p[off] = static_cast<std::uint8_t>(v), p[off + 1] = static_cast<std::uint8_t>(v >> 8);
}
inline void Put32(std::uint8_t* p, std::size_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void Put64(std::uint8_t* p, std::size_t off, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint16_t Get16(const std::uint8_t* p, std::size_t off) {
  return static_cast<std::uint16_t>(p[off] | p[off + 1] << 8);
}
inline std::uint32_t Get32(const std::uint8_t* p, std::size_t off) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[off + static_cast<std::size_t>(i)];
  return v;
}
inline std::uint64_t Get64(const std::uint8_t* p, std::size_t off) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[off + static_cast<std::size_t>(i)];
  return v;
}
}  // namespace detail

// The fields of a Hello.
struct Hello {
  std::uint32_t magic = kHelloMagic;
  std::uint16_t protocol_version = kProtocolVersion;
  std::uint16_t layout_version = kLayoutVersion;
  std::uint32_t request_ring_bytes = 0;
  std::uint32_t response_ring_bytes = 0;
  std::uint32_t client_pid = 0;
  std::uint32_t flags = 0;
  bool reserved_zero = true;  // decoded: whether bytes 24..63 were all zero
};

// The fields of a Welcome.
struct Welcome {
  std::uint32_t magic = kWelcomeMagic;
  std::uint16_t protocol_version = kProtocolVersion;
  std::uint16_t layout_version = kLayoutVersion;
  std::uint32_t status = 0;
  std::uint32_t request_ring_bytes = 0;
  std::uint32_t response_ring_bytes = 0;
  std::uint32_t max_frame_bytes = 0;
  std::uint64_t generation = 0;
  std::uint32_t server_pid = 0;
  char message[kWelcomeMessageCapacity + 1] = {};  // NUL-terminated copy of Message
};

inline void EncodeHello(const Hello& h, std::uint8_t out[kHelloLength]) {
  std::memset(out, 0, kHelloLength);
  detail::Put32(out, kHelloMagicOffset, h.magic);
  detail::Put16(out, kHelloProtocolVersionOffset, h.protocol_version);
  detail::Put16(out, kHelloLayoutVersionOffset, h.layout_version);
  detail::Put32(out, kHelloRequestRingBytesOffset, h.request_ring_bytes);
  detail::Put32(out, kHelloResponseRingBytesOffset, h.response_ring_bytes);
  detail::Put32(out, kHelloClientPidOffset, h.client_pid);
  detail::Put32(out, kHelloFlagsOffset, h.flags);
}

inline Hello DecodeHello(const std::uint8_t in[kHelloLength]) {
  Hello h;
  h.magic = detail::Get32(in, kHelloMagicOffset);
  h.protocol_version = detail::Get16(in, kHelloProtocolVersionOffset);
  h.layout_version = detail::Get16(in, kHelloLayoutVersionOffset);
  h.request_ring_bytes = detail::Get32(in, kHelloRequestRingBytesOffset);
  h.response_ring_bytes = detail::Get32(in, kHelloResponseRingBytesOffset);
  h.client_pid = detail::Get32(in, kHelloClientPidOffset);
  h.flags = detail::Get32(in, kHelloFlagsOffset);
  for (std::size_t i = kHelloReservedOffset; i < kHelloLength; ++i) h.reserved_zero = h.reserved_zero && in[i] == 0;
  return h;
}

inline void EncodeWelcome(const Welcome& w, std::uint8_t out[kWelcomeLength]) {
  std::memset(out, 0, kWelcomeLength);
  detail::Put32(out, kWelcomeMagicOffset, w.magic);
  detail::Put16(out, kWelcomeProtocolVersionOffset, w.protocol_version);
  detail::Put16(out, kWelcomeLayoutVersionOffset, w.layout_version);
  detail::Put32(out, kWelcomeStatusOffset, w.status);
  detail::Put32(out, kWelcomeRequestRingBytesOffset, w.request_ring_bytes);
  detail::Put32(out, kWelcomeResponseRingBytesOffset, w.response_ring_bytes);
  detail::Put32(out, kWelcomeMaxFrameBytesOffset, w.max_frame_bytes);
  detail::Put64(out, kWelcomeGenerationOffset, w.generation);
  detail::Put32(out, kWelcomeServerPidOffset, w.server_pid);
  std::size_t n = std::strlen(w.message);
  if (n > kWelcomeMessageCapacity) n = kWelcomeMessageCapacity;
  detail::Put16(out, kWelcomeMessageLengthOffset, static_cast<std::uint16_t>(n));
  std::memcpy(out + kWelcomeMessageOffset, w.message, n);
}

// Decode a Welcome; MessageLength is clamped to the 88 bytes the packet has (hostile input).
inline Welcome DecodeWelcome(const std::uint8_t in[kWelcomeLength]) {
  Welcome w;
  w.magic = detail::Get32(in, kWelcomeMagicOffset);
  w.protocol_version = detail::Get16(in, kWelcomeProtocolVersionOffset);
  w.layout_version = detail::Get16(in, kWelcomeLayoutVersionOffset);
  w.status = detail::Get32(in, kWelcomeStatusOffset);
  w.request_ring_bytes = detail::Get32(in, kWelcomeRequestRingBytesOffset);
  w.response_ring_bytes = detail::Get32(in, kWelcomeResponseRingBytesOffset);
  w.max_frame_bytes = detail::Get32(in, kWelcomeMaxFrameBytesOffset);
  w.generation = detail::Get64(in, kWelcomeGenerationOffset);
  w.server_pid = detail::Get32(in, kWelcomeServerPidOffset);
  std::size_t n = detail::Get16(in, kWelcomeMessageLengthOffset);
  if (n > kWelcomeMessageCapacity) n = kWelcomeMessageCapacity;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t c = in[kWelcomeMessageOffset + i];
    w.message[i] = c == 0 ? ' ' : static_cast<char>(c);
  }
  w.message[n] = 0;
  return w;
}

}  // namespace handshake
}  // namespace channel
}  // namespace framebridge

#endif  // FRAMEBRIDGE_CHANNEL_HANDSHAKE_HPP
