package io.framebridge.channel;

import io.framebridge.Layout;
import io.framebridge.RegionKind;
import io.framebridge.Segment;
import io.framebridge.Spec;
import io.framebridge.internal.Native;

/**
 * A server process for {@link PeerPidfdTest}: listens at {@code args[0]}, accepts one client, answers its
 * Hello with a Welcome and a segment, hands the connected socket to the process listening at
 * {@code args[1]} (SCM_RIGHTS), and exits: the client's socket stays open, only its pidfd of this process
 * tells it the server is gone (docs/channels.md §4).
 */
public final class HandOverServer {
    private HandOverServer() {}

    public static void main(String[] args) {
        int l = Sock.listen(args[0], 0600, 4);
        System.out.println("ready");
        System.out.flush();
        while (Native.pollSocketRaw(l, 1000) <= 0) {
            // wait for the client
        }
        int s = Native.seqpacketAcceptRaw(l);
        byte[] buf = new byte[Native.MAX_PACKET];
        int[] fds = new int[2];
        Sock.recv(s, buf, fds, System.nanoTime() + 10_000_000_000L, "hello");
        long ring = 1 << 16;
        Segment seg = Segment.createMemfd(Handshake.SEGMENT_NAME, new Spec().ring(Handshake.REQUESTS, RegionKind.SPSC, ring)
                .ring(Handshake.RESPONSES, RegionKind.SPSC, ring));
        byte[] wel = Handshake.welcome(Handshake.STATUS_OK, ring, ring, Layout.maxPayload(ring), 1, ProcessHandle.current().pid(), null);
        Native.sendPacket(s, wel, wel.length, seg.fd());
        int h = Sock.connect(args[1]);
        Native.sendPacket(h, new byte[] {1}, 1, s);
        System.out.println("handed over");
        System.out.flush();
        Runtime.getRuntime().halt(0); // no cleanup: the receiver's copy keeps the socket open
    }
}
