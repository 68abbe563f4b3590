// Package channel makes calls between processes over shared memory: a server
// listens on a Unix SOCK_SEQPACKET socket, checks each client with
// SO_PEERCRED, and hands it a sealed memfd segment holding a request ring
// and a response ring (docs/channels.md). Every call is a FlatBuffers
// Envelope built in place in the request ring and answered by one built in
// place in the response ring; the socket stays open only so that each side
// learns at once, by end of file, that the other died.
//
// A server:
//
//	l, err := channel.Listen(path, channel.ListenOptions{})
//	err = l.Serve(ctx, func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
//		reply.Raw = channel.RawData(req) // echo; built in place after the handler returns
//		return nil
//	})
//
// A client:
//
//	c, err := channel.Dial(ctx, path, channel.DialOptions{})
//	err = c.Call(ctx, &channel.Request{Raw: data}, func(env *fb.Envelope) error { ...; return nil })
//
// Calls may be made from many goroutines at once. The first caller that
// finds nobody reading the response ring reads it for everyone (it spins
// briefly, then sleeps on the ring's futex), so a lone caller never pays a
// goroutine hand-off. A caller alone on the client goes further: it sends
// and reads its response without the client's lock or call table (two
// atomic operations in all), and others arriving meanwhile wait at most
// for that one call before taking the shared path.
//
// # Caveats
//
//   - The envelope handed to a Call's read callback or to a Handler aliases
//     shared memory (or a private copy) and is valid only until the callback
//     or handler returns: copy what you keep (strings.Clone, bytes.Clone).
//   - A read callback may Send on its client but must not Call it: the
//     response ring is not read while the callback runs, so such a call
//     would wait for ever.
//   - A handler's ctx is valid only until the handler returns. Its Done
//     channel is built on first use (an allocation); Deadline and Err are free.
//   - Calls allocate nothing in steady state, also when they sleep for
//     their response or for ring space: ring waits take an absolute deadline
//     and the connection's stop word instead of registering with ctx. A
//     sleeping caller whose ctx is cancelled before its deadline sees the
//     cancel within 5 ms; the deadline and the connection's end are seen at
//     once. A request that finds the request ring full pays for a few error
//     values (the claim that found it full) before it waits.
//   - With ListenOptions.Workers > 0 each request is copied out of the ring
//     so that later requests can be read while a handler runs.
//   - A request whose deadline passed before it was read is dropped, and a
//     response finished after its deadline is not sent (ServerStats).
package channel
