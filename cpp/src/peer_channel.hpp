// framebridge-peer channel commands (docs/peers.md "Channels"): serve, call, call-script, call-ping,
// call-torture, with the test service of docs/channels.md §9.
#ifndef FRAMEBRIDGE_PEER_CHANNEL_HPP
#define FRAMEBRIDGE_PEER_CHANNEL_HPP

namespace frbpeer {

// Whether argv[1] is a channel command.
bool IsChannelCommand(const char* cmd);
// Run a channel command; returns the exit code (0 ok, 1 FAIL, 2 usage).
int Channel(int argc, char** argv);

}  // namespace frbpeer

#endif  // FRAMEBRIDGE_PEER_CHANNEL_HPP
