// Package bench implements `framebridge bench`: round trips and one-way
// throughput between two processes pinned to two cores, for every pair of
// languages whose peer program (docs/peers.md) is built, next to the same
// round trips over a Unix socket and TCP loopback and the floor of the
// machine (a busy-spin and a futex ping-pong over a shared mapping, and a
// copy-in/copy-out byte ring), all in one run. Calls over a channel
// (docs/channels.md) between every client/server pair are measured beside
// gRPC unary calls over a Unix socket (the bench/grpc module, a program of
// its own so that framebridge never depends on gRPC).
//
// The driver (Run) creates a named segment per measurement, starts the
// reader-side peer, waits for its `ready` line, runs the writer-side peer
// and parses its `ok ...` line into a Row. Socket and floor peers are this
// package too (RunPeer, reached through `framebridge bench peer`).
//
// # Caveats
//
//   - Peers are pinned by forking them from an OS thread whose CPU
//     affinity is set first (children inherit it); with a single allowed CPU
//     they run unpinned.
//   - A blocking wake-up across cores in a VM whose idle vCPUs halt costs a
//     host-side vCPU wake-up (tens of µs); compare `block` rows with the
//     futex floor of the same run, never with another machine.
//   - In a VM the host places the two CPUs, and moves them: a cache line's
//     round trip between them (hence every spin row) changes several-fold
//     with it. Each measurement is bracketed by a probe of it and measured
//     again if it ran in another placement than the rest of its group
//     (placement.go); the report states the run's placement.
//   - The idle reader's CPU is read from its process CPU-time clock; where
//     that is unavailable /proc/PID/stat only resolves 10 ms.
package bench
