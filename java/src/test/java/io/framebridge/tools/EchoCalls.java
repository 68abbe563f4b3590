package io.framebridge.tools;

import io.framebridge.channel.FrameClient;

/** Test access to the peer's garbage-free echo call (PeerChannel.EchoCall is package-private). */
public final class EchoCalls {
    private final PeerChannel.EchoCall call;

    public EchoCalls(int size) {
        call = new PeerChannel.EchoCall(size);
    }

    /** One checked echo call i; throws AssertionError on a wrong answer. */
    public void call(FrameClient c, long i) {
        try {
            call.at(i).check(c, 10_000);
        } catch (PeerChannel.Failed e) {
            throw new AssertionError(e.getMessage());
        }
    }

    /** The same call to an absolute System.nanoTime deadline (FrameClient.callRawBefore). */
    public void callBefore(FrameClient c, long i, long deadlineNanoTime) {
        try {
            call.at(i).checkBefore(c, deadlineNanoTime);
        } catch (PeerChannel.Failed e) {
            throw new AssertionError(e.getMessage());
        }
    }
}
