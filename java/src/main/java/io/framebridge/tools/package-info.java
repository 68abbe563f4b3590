/**
 * Command-line tools: {@link io.framebridge.tools.Peer} (the peer program of {@code docs/peers.md}),
 * {@link io.framebridge.tools.Create} (make or unlink a named segment) and
 * {@link io.framebridge.tools.BlockedReaderCpu} (CPU of a reader blocked on an empty ring: a measurement).
 */
package io.framebridge.tools;
