package io.framebridge.channel;

import io.framebridge.internal.Native;

/**
 * A client process for {@link PeerPidfdTest}: says Hello to the server at {@code args[0]}, takes its Welcome,
 * hands its connected socket to the process listening at {@code args[1]} (SCM_RIGHTS), and exits. The
 * socket stays open in the receiver, so the server cannot learn of the exit from the socket: only from
 * the client's pidfd (docs/channels.md §4).
 */
public final class HandOverClient {
    private HandOverClient() {}

    public static void main(String[] args) {
        int s = Sock.connect(args[0]);
        byte[] hello = Handshake.hello(Handshake.PROTOCOL_VERSION, Handshake.LAYOUT_VERSION, 0, 0, ProcessHandle.current().pid(), 0);
        Native.sendPacket(s, hello, hello.length, -1);
        byte[] buf = new byte[Native.MAX_PACKET];
        int[] fds = new int[2];
        int n = Sock.recv(s, buf, fds, System.nanoTime() + 10_000_000_000L, "welcome");
        if (n != Handshake.WELCOME_LENGTH || fds[0] < 0) {
            System.out.println("FAIL: welcome of " + n + " bytes, fd " + fds[0]);
            Runtime.getRuntime().halt(1);
        }
        int h = Sock.connect(args[1]);
        Native.sendPacket(h, new byte[] {1}, 1, s);
        System.out.println("handed over");
        System.out.flush();
        Runtime.getRuntime().halt(0); // no cleanup: the receiver's copy keeps the socket open
    }
}
