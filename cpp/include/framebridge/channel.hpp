// Channels: request/response calls between processes over a Unix socket and one sealed memfd segment
// per connection (docs/channels.md). channel::Server serves a handler; channel::Client dials and calls.
//
//   auto srv = framebridge::channel::Server::Listen("/run/app/codec.sock",
//       [](const channel::Request& rq, channel::Responder& r) {
//         // compute from rq.envelope (verified), then build the response in place:
//         r.Reply([&](flatbuffers::FlatBufferBuilder& b) { channel::Message m; ...; return m; });
//       });
//   auto cli = framebridge::channel::Client::Dial("/run/app/codec.sock");
//   channel::Response resp;
//   Status st = (*cli)->Call([&](flatbuffers::FlatBufferBuilder& b) { ...; return m; }, &resp,
//                            {Deadline::After(10'000'000)});
//
// See cpp/README.md ("Channels").
#ifndef FRAMEBRIDGE_CHANNEL_HPP
#define FRAMEBRIDGE_CHANNEL_HPP

#include "framebridge/channel_client.hpp"
#include "framebridge/channel_common.hpp"
#include "framebridge/channel_handshake.hpp"
#include "framebridge/channel_server.hpp"
#include "framebridge/channel_socket.hpp"

#endif  // FRAMEBRIDGE_CHANNEL_HPP
