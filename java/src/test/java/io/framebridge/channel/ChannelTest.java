package io.framebridge.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.framebridge.Errno;
import io.framebridge.NativeException;
import io.framebridge.PeerDeadException;
import io.framebridge.RingFullException;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import io.framebridge.internal.Native;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FrameServer and FrameClient in one process (docs/channels.md): handshake, calls, deadlines, errors. */
class ChannelTest {
    @TempDir
    Path dir;
    FrameServer server;

    @AfterEach
    void closeServer() {
        if (server != null) {
            server.close();
        }
    }

    String start(FrameServer.Options o) {
        String p = dir.resolve("s.sock").toString();
        server = FrameServer.listen(p, o).serve(new TestService());
        return p;
    }

    static Body raw(String s) {
        byte[] d = s.getBytes(StandardCharsets.UTF_8);
        return (b, f) -> f.sequence(d.length).payload(Payload.Raw, Raw.createRaw(b, b.createByteVector(d)));
    }

    static String echo(FrameClient c, String s, long ms) {
        return c.call(raw(s), (env, er) -> {
            Raw r = er.raw();
            byte[] out = new byte[r.dataLength()];
            for (int i = 0; i < out.length; i++) {
                out[i] = (byte) r.data(i);
            }
            assertEquals(out.length, env.sequence());
            return new String(out, StandardCharsets.UTF_8);
        }, ms, TimeUnit.MILLISECONDS);
    }

    @Test
    void echoCallsComeBackWithTheirContentAndTheSocketIsPrivate() throws Exception {
        String p = start(new FrameServer.Options());
        assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE), Files.getPosixFilePermissions(Path.of(p)));
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            assertEquals(1, c.generation());
            for (int i = 0; i < 100; i++) {
                assertEquals("hello " + i, echo(c, "hello " + i, 5000));
            }
        }
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            assertEquals(2, c.generation(), "a new connection gets the next generation");
        }
    }

    @Test
    void theSegmentIsSealedAgainstTruncation() {
        String p = start(new FrameServer.Options());
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            int seals = Native.getSeals(c.segmentFd());
            assertEquals(Native.SEAL_SEAL | Native.SEAL_SHRINK | Native.SEAL_GROW, seals & 7);
            NativeException e = assertThrows(NativeException.class, () -> Native.ftruncate(c.segmentFd(), 4096));
            assertEquals(Errno.EPERM, e.errno());
        }
    }

    @Test
    void aClientOfAnotherUidIsRefusedWithPermissionDenied() {
        int me = Native.ids()[0];
        String p = start(new FrameServer.Options().allow(new int[] {me + 1}, new int[] {Integer.MAX_VALUE}));
        HandshakeException e = assertThrows(HandshakeException.class, () -> FrameClient.dial(p, Duration.ofSeconds(5)));
        assertEquals(Handshake.STATUS_PERMISSION_DENIED, e.status());
        assertTrue(e.getMessage().contains("not allowed"), e.getMessage());
    }

    @Test
    void badRingSizesAreRefusedAndBigOnesLowered() {
        String p = start(new FrameServer.Options().rings(1 << 16, 1 << 16, 1 << 17));
        assertThrows(IllegalArgumentException.class,
                () -> FrameClient.dial(p, Duration.ofSeconds(5), new FrameClient.Options().rings(5000, 0)));
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5), new FrameClient.Options().rings(1 << 20, 4096))) {
            assertEquals(4096 / 2 - 24, c.maxFrameBytes()); // the 4 KiB response ring limits frames
            assertEquals("x", echo(c, "x", 5000));
        }
    }

    @Test
    void aRawHelloOfTheWrongVersionGetsVersionMismatch() {
        String p = start(new FrameServer.Options());
        int sock = Sock.connect(p);
        try {
            byte[] hello = Handshake.hello(2, 1, 0, 0, 1, 0);
            Native.sendPacket(sock, hello, hello.length, -1);
            byte[] buf = new byte[Native.MAX_PACKET];
            int[] fds = new int[2];
            int n = Sock.recv(sock, buf, fds, System.nanoTime() + 5_000_000_000L, "test");
            assertEquals(Handshake.WELCOME_LENGTH, n);
            assertEquals(-1, fds[0]);
            Handshake.Welcome w = Handshake.decodeWelcome(buf);
            assertEquals(Handshake.STATUS_VERSION_MISMATCH, w.status());
            assertEquals("server speaks channel protocol 1, client sent 2", w.message());
        } finally {
            Sock.closeQuietly(sock);
        }
    }

    @Test
    void aLiveListenerCannotBeReplacedButAStaleSocketIs() throws Exception {
        String p = start(new FrameServer.Options());
        NativeException e = assertThrows(NativeException.class, () -> FrameServer.listen(p, new FrameServer.Options()));
        assertTrue(e.getMessage().contains("another server is listening"), e.getMessage());
        assertEquals(Errno.EADDRINUSE, e.errno());
        assertTrue(e.getMessage().contains("EADDRINUSE"), e.getMessage());
        server.close();
        server = null;
        // a socket file nobody accepts on: bind a listener and drop its fd without unlinking
        int fd = Native.seqpacketListenRaw(p, 0600, 1);
        Native.close(fd);
        assertTrue(Files.exists(Path.of(p)));
        server = FrameServer.listen(p, new FrameServer.Options()).serve(new TestService());
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            assertEquals("y", echo(c, "y", 5000));
        }
        Path plain = dir.resolve("plain");
        Files.writeString(plain, "x");
        NativeException e2 = assertThrows(NativeException.class, () -> FrameServer.listen(plain.toString(), new FrameServer.Options()));
        assertTrue(e2.getMessage().contains("not a socket"), e2.getMessage());
        NativeException e3 = assertThrows(NativeException.class,
                () -> FrameClient.dial(dir.resolve("none.sock").toString(), Duration.ofSeconds(1)));
        assertTrue(e3.getMessage().contains("no server socket"), e3.getMessage());
        // a stale socket file: connect is refused, and the error says so by name
        int stale = Native.seqpacketListenRaw(dir.resolve("stale.sock").toString(), 0600, 1);
        Native.close(stale);
        NativeException e4 = assertThrows(NativeException.class,
                () -> FrameClient.dial(dir.resolve("stale.sock").toString(), Duration.ofSeconds(1)));
        assertEquals(Errno.ECONNREFUSED, e4.errno());
        assertTrue(e4.getMessage().contains("ECONNREFUSED"), e4.getMessage());
    }

    @Test
    void errnoNamesTheSocketErrors() {
        assertEquals("EADDRINUSE", Errno.name(Errno.EADDRINUSE));
        assertEquals("ECONNREFUSED", Errno.name(Errno.ECONNREFUSED));
        assertEquals("ENAMETOOLONG", Errno.name(Errno.ENAMETOOLONG));
        assertEquals("ENOTDIR", Errno.name(Errno.ENOTDIR));
        assertEquals("errno 4095", Errno.name(4095));
    }

    @Test
    void statusExceptionsAndHandlerExceptionsBecomeStatusCodes() {
        String p = start(new FrameServer.Options());
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            CallStatusException e = assertThrows(CallStatusException.class, () -> echo(c, "fail:7;", 5000));
            assertEquals(7, e.code());
            assertEquals("failed as asked", e.statusMessage());
            CallStatusException p13 = assertThrows(CallStatusException.class, () -> echo(c, "panic;", 5000));
            assertEquals(13, p13.code());
            assertTrue(p13.statusMessage().contains("panic as asked"), p13.statusMessage());
            assertEquals("after", echo(c, "after", 5000));
            assertEquals(1, server.handlerFailures());
        }
    }

    @Test
    void deadlinesEndCallsAndLateResponsesAreDroppedAndCounted() throws Exception {
        String p = start(new FrameServer.Options());
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            long t0 = System.nanoTime();
            assertThrows(DeadlineExceededException.class, () -> echo(c, "sleep:300;", 50));
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L); // watchdog only
            // The server finishes after the deadline: the response is dropped there (ExpiredResponses).
            assertEquals("next", echo(c, "next", 5000));
            assertEquals(1, server.expiredResponses());
            // A request whose deadline passed while it waited in the ring is dropped unhandled.
            Thread t = new Thread(() -> echo(c, "sleep:200;", 5000));
            t.start();
            Thread.sleep(50);
            assertThrows(DeadlineExceededException.class, () -> echo(c, "late", 20));
            t.join();
            assertEquals("again", echo(c, "again", 5000));
            assertEquals(1, server.expiredRequests());
        }
    }

    @Test
    void fullRequestRingFailsFastOrBlocksUntilTheDeadline() throws Exception {
        String p = start(new FrameServer.Options());
        try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5), new FrameClient.Options().rings(4096, 0))) {
            Thread t = new Thread(() -> echo(c, "sleep:300;", 5000));
            t.start();
            Thread.sleep(50);
            byte[] kib = new byte[1024];
            Body big = (b, f) -> f.payload(Payload.Raw, Raw.createRaw(b, b.createByteVector(kib)));
            boolean full = false;
            for (int i = 0; i < 100 && !full; i++) {
                try {
                    c.send(big, 5, TimeUnit.SECONDS, true);
                } catch (RingFullException e) {
                    full = true;
                }
            }
            assertTrue(full, "fail-fast sends must hit a full 4 KiB ring");
            assertThrows(DeadlineExceededException.class, () -> c.send(big, 30, TimeUnit.MILLISECONDS, false));
            t.join();
            assertEquals("ok", echo(c, "ok", 5000));
        }
    }

    @Test
    void aThousandCallsInFlightFromManyThreads() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            String p = start(new FrameServer.Options().executor(pool, 64));
            try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
                int n = 1000;
                Thread[] ts = new Thread[n];
                AtomicReference<Throwable> fail = new AtomicReference<>();
                for (int i = 0; i < n; i++) {
                    String msg = "call " + i;
                    ts[i] = new Thread(() -> {
                        try {
                            assertEquals(msg, echo(c, msg, 60_000));
                        } catch (Throwable e) {
                            fail.compareAndSet(null, e);
                        }
                    });
                }
                for (Thread t : ts) {
                    t.start();
                }
                for (Thread t : ts) {
                    t.join();
                }
                assertNull(fail.get());
                assertEquals(n, c.calls());
                assertEquals(0, c.lateResponses() + c.unknownResponses());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void closingTheServerFailsPendingCallsWithPeerDead() throws Exception {
        String p = start(new FrameServer.Options());
        FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5));
        AtomicReference<Throwable> got = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                echo(c, "sleep:2000;", 30_000);
            } catch (Throwable e) {
                got.set(e);
            }
        });
        t.start();
        Thread.sleep(100);
        server.close();
        t.join(10_000);
        assertTrue(got.get() instanceof PeerDeadException, String.valueOf(got.get()));
        assertThrows(PeerDeadException.class, () -> echo(c, "x", 1000));
        assertNotNull(c.deadReason());
        c.close();
    }

    static long channelMappings() throws Exception {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.contains("/memfd:") && l.contains(Handshake.SEGMENT_NAME)).count();
    }

    /**
     * Back-to-back connections: an ended connection's socket number is soon reused by the next accepted one,
     * and a late shutdown of the old number used to hang up the new client during its handshake (it saw end of
     * file instead of a Welcome). Every dial must succeed.
     */
    @Test
    void backToBackConnectionsNeverLoseTheirHandshake() {
        String p = start(new FrameServer.Options());
        for (int i = 0; i < 200; i++) {
            try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
                assertEquals("k" + i, echo(c, "k" + i, 5000));
            }
        }
        assertEquals(200, server.accepted());
    }

    /** The segment is the memfd "framebridge-channel" (§3), and both ends unmap it when the connection ends. */
    @Test
    void theSegmentIsLabelledAndUnmappedWhenTheConnectionEnds() throws Exception {
        String p = start(new FrameServer.Options());
        long before = channelMappings();
        FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5));
        assertEquals("m", echo(c, "m", 5000));
        assertTrue(channelMappings() >= before + 2, "server and client map the segment");
        c.close();
        for (int i = 0; i < 1000 && (server.connections() != 0 || channelMappings() != before); i++) {
            Thread.sleep(10);
        }
        assertEquals(before, channelMappings(), "both ends unmapped it");
    }

    @Test
    void aClosedClientFreesItsServerConnection() throws Exception {
        AtomicReference<String> reason = new AtomicReference<>();
        String p = start(new FrameServer.Options().onClosed((g, r) -> reason.set(r)));
        FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5));
        assertEquals("a", echo(c, "a", 5000));
        assertEquals(1, server.connections());
        c.close();
        for (int i = 0; i < 1000 && server.connections() != 0; i++) {
            Thread.sleep(10);
        }
        assertEquals(0, server.connections());
        assertTrue(reason.get().startsWith("peer-dead"), reason.get());
    }
}
