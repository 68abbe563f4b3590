package io.framebridge.channel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FrameClient.callRawBefore: a Raw call to an absolute System.nanoTime deadline. */
class CallRawBeforeTest {
    @TempDir
    Path dir;
    FrameServer server;

    @AfterEach
    void closeServer() {
        if (server != null) {
            server.close();
        }
    }

    private String start() {
        String p = dir.resolve("s.sock").toString();
        server = FrameServer.listen(p, new FrameServer.Options()).serve(new TestService());
        return p;
    }

    private static final ResponseHandler<byte[]> BYTES = (env, er) -> {
        byte[] out = new byte[er.rawDataLength()];
        ByteBuffer b = er.buffer();
        b.get(er.rawDataPosition(), out);
        return out;
    };

    @Test
    void echoesToAFutureDeadlineAndCountsTheCalls() {
        String p = start();
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            long deadline = System.nanoTime() + 10_000_000_000L; // one deadline for every call
            for (int i = 0; i < 1000; i++) {
                byte[] d = new byte[1 + i % 100];
                for (int k = 0; k < d.length; k++) {
                    d[k] = (byte) (i + k + 'A');
                }
                d[0] = 'x'; // not a TestService command
                assertArrayEquals(d, c.callRawBefore(i, d, 0, d.length, BYTES, deadline, false), "call " + i);
            }
            assertEquals(1000, c.calls());
        }
        assertEquals(1000, server.calls());
    }

    @Test
    void aDeadlineAlreadyPastEndsTheCallAndTheServerDropsTheRequest() throws Exception {
        String p = start();
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            byte[] d = {'x', 1, 2, 3};
            assertThrows(DeadlineExceededException.class, () -> c.callRawBefore(1, d, 0, d.length, BYTES, System.nanoTime() - 1, false));
            for (int i = 0; i < 500 && server.expiredRequests() == 0; i++) {
                Thread.sleep(10);
            }
            assertEquals(1, server.expiredRequests());
            assertEquals(0, server.calls());
            // The connection goes on.
            assertArrayEquals(d, c.callRawBefore(2, d, 0, d.length, BYTES, System.nanoTime() + 5_000_000_000L, false));
        }
    }

    @Test
    void badRangesAreRefusedBeforeAnythingIsSent() {
        String p = start();
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            byte[] d = new byte[4];
            assertThrows(IndexOutOfBoundsException.class, () -> c.callRawBefore(1, d, 2, 3, BYTES, System.nanoTime() + 1_000_000_000L, false));
            assertEquals(0, c.calls());
        }
    }
}
