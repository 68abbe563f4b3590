package io.framebridge.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.framebridge.Frame;
import io.framebridge.PeerDeadException;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.internal.Native;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hostile clients, a server process killed mid-call, and no garbage per call. */
class ChannelFaultTest {
    @TempDir
    Path dir;

    @Test
    void garbageFramesCloseOnlyThatConnection() throws Exception {
        AtomicReference<String> reason = new AtomicReference<>();
        String p = dir.resolve("g.sock").toString();
        try (FrameServer s = FrameServer.listen(p, new FrameServer.Options().onClosed((g, r) -> reason.set(r)))
                .serve(new TestService()); FrameClient good = FrameClient.dial(p, Duration.ofSeconds(5))) {
            int sock = Sock.connect(p);
            byte[] hello = Handshake.hello(1, 1, 0, 0, 1, 0);
            Native.sendPacket(sock, hello, hello.length, -1);
            byte[] buf = new byte[Native.MAX_PACKET];
            int[] fds = new int[2];
            assertEquals(Handshake.WELCOME_LENGTH, Sock.recv(sock, buf, fds, System.nanoTime() + 5_000_000_000L, "t"));
            try (Segment seg = Segment.attachFd(fds[0]); RingWriter w = seg.writer(Handshake.REQUESTS)) {
                Frame f = w.claim(16, 64); // type 16 but not a FlatBuffers envelope
                for (int i = 0; i < 64; i++) {
                    f.putByte(i, (byte) 0xEE);
                }
                w.commit();
                int r = 0;
                for (int i = 0; i < 500 && (r & (Native.POLL_HUP | Native.POLL_RDHUP | Native.POLL_IN)) == 0; i++) {
                    r = Native.pollSocketRaw(sock, 10);
                }
                assertTrue(r != 0, "the server must close the hostile connection");
            } finally {
                Sock.closeQuietly(fds[0]);
                Sock.closeQuietly(sock);
            }
            for (int i = 0; i < 500 && reason.get() == null; i++) {
                Thread.sleep(10);
            }
            assertTrue(reason.get().startsWith("protocol error"), reason.get());
            assertEquals(1, s.protocolErrors());
            assertEquals("still", ChannelTest.echo(good, "still", 5000));
        }
    }

    @Test
    void aKilledServerProcessFailsEveryPendingCallWithPeerDead() throws Exception {
        String p = dir.resolve("k.sock").toString();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("framebridge.peer.classpath")
                        + java.io.File.pathSeparator + System.getProperty("java.class.path"),
                "io.framebridge.tools.Peer", "serve", "--socket", p, "--workers", "4"));
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("ready", out.readLine());
            try (FrameClient c = FrameClient.dial(p, Duration.ofSeconds(10))) {
                assertEquals("up", ChannelTest.echo(c, "up", 10_000));
                int n = 8;
                AtomicInteger dead = new AtomicInteger();
                Thread[] ts = new Thread[n];
                for (int i = 0; i < n; i++) {
                    ts[i] = new Thread(() -> {
                        try {
                            ChannelTest.echo(c, "sleep:5000;", 60_000);
                        } catch (PeerDeadException e) {
                            dead.incrementAndGet();
                        }
                    });
                    ts[i].start();
                }
                Thread.sleep(300);
                proc.destroyForcibly(); // SIGKILL
                for (Thread t : ts) {
                    t.join(30_000);
                }
                assertEquals(n, dead.get(), "every pending call fails with PeerDeadException");
                assertTrue(c.deadReason().startsWith("peer-dead"), c.deadReason());
            }
        } finally {
            proc.destroyForcibly();
            proc.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void steadyStateCallsAllocateNothing() throws Exception {
        java.lang.management.ThreadMXBean m = ManagementFactory.getThreadMXBean();
        assumeTrue(m instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) m;
        assumeTrue(mx.isThreadAllocatedMemorySupported());
        mx.setThreadAllocatedMemoryEnabled(true);
        String p = dir.resolve("n.sock").toString();
        try (FrameServer s = FrameServer.listen(p, new FrameServer.Options()).serve(new TestService());
                FrameClient c = FrameClient.dial(p, Duration.ofSeconds(5))) {
            io.framebridge.tools.EchoCalls e = new io.framebridge.tools.EchoCalls(64);
            for (int i = 0; i < 30_000; i++) {
                e.call(c, i);
            }
            long tid = Thread.currentThread().getId();
            long before = mx.getThreadAllocatedBytes(tid);
            int calls = 20_000;
            for (int i = 0; i < calls; i++) {
                e.call(c, 30_000 + i);
            }
            long allocated = mx.getThreadAllocatedBytes(tid) - before;
            assertTrue(allocated < 16 * 1024, allocated + " bytes allocated by the caller for " + calls + " calls");
            assertTrue(s.calls() >= 50_000);
            long deadline = System.nanoTime() + 60_000_000_000L;
            for (int i = 0; i < 30_000; i++) { // callRawBefore: warm up, then measure
                e.callBefore(c, 50_000 + i, deadline);
            }
            before = mx.getThreadAllocatedBytes(tid);
            for (int i = 0; i < calls; i++) {
                e.callBefore(c, 80_000 + i, deadline);
            }
            allocated = mx.getThreadAllocatedBytes(tid) - before;
            assertTrue(allocated < 16 * 1024, allocated + " bytes allocated by the caller for " + calls + " calls to a deadline");
            assertTrue(s.calls() >= 100_000);
        }
    }
}
