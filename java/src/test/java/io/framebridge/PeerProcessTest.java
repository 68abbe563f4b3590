package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Java writer and reader peers as real processes (docs/peers.md), incl. SIGKILL of a writer mid-claim. */
class PeerProcessTest {
    static final long TIMEOUT_S = 60;

    /** A running peer program. */
    static final class PeerProc {
        final Process p;
        final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> all = new ArrayList<>();
        final StringBuilder err = new StringBuilder();

        PeerProc(String... args) throws IOException {
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.add("-XX:+UseSerialGC");
            cmd.add("-XX:TieredStopAtLevel=1");
            cmd.add("-Xss512k");
            cmd.add("-cp");
            cmd.add(peerClasspath());
            cmd.add("io.framebridge.tools.Peer");
            cmd.addAll(List.of(args));
            p = new ProcessBuilder(cmd).start();
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        synchronized (all) {
                            all.add(l);
                        }
                        lines.add(l);
                    }
                } catch (IOException ignored) {
                    // process gone
                }
            });
            t.setDaemon(true);
            t.start();
            Thread e = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        synchronized (err) {
                            err.append(l).append('\n');
                        }
                    }
                } catch (IOException ignored) {
                    // process gone
                }
            });
            e.setDaemon(true);
            e.start();
        }

        void await(String prefix) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            for (;;) {
                String l = lines.poll(100, TimeUnit.MILLISECONDS);
                if (l != null && l.startsWith(prefix)) {
                    return;
                }
                if (l == null && !p.isAlive() && lines.isEmpty()) {
                    fail("peer exited (" + p.exitValue() + ") before printing '" + prefix + "': " + describe());
                }
                if (System.nanoTime() > deadline) {
                    fail("no '" + prefix + "' line: " + describe());
                }
            }
        }

        /** Waits for exit 0 and returns the final ok line. */
        String ok() throws InterruptedException {
            if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("peer did not finish: " + describe());
            }
            Thread.sleep(50); // let the stdout pump drain
            assertEquals(0, p.exitValue(), describe());
            synchronized (all) {
                String last = all.get(all.size() - 1);
                assertTrue(last.startsWith("ok"), describe());
                return last;
            }
        }

        String describe() {
            synchronized (all) {
                synchronized (err) {
                    return "stdout=" + all + " stderr=" + err;
                }
            }
        }
    }

    /** target/classes (the peer's classes and native library) plus the FlatBuffers runtime jar. */
    static String peerClasspath() {
        String cp = System.getProperty("framebridge.peer.classpath");
        if (cp == null) {
            return System.getProperty("java.class.path");
        }
        try {
            Path fb = Path.of(com.google.flatbuffers.FlatBufferBuilder.class.getProtectionDomain().getCodeSource()
                    .getLocation().toURI());
            return cp + File.pathSeparator + fb;
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    final List<PeerProc> procs = new ArrayList<>();
    Segment seg;

    PeerProc start(String... args) throws IOException {
        PeerProc p = new PeerProc(args);
        procs.add(p);
        return p;
    }

    String create(Spec spec) {
        String name = "fbjava-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        seg = Segment.create(name, spec);
        return name;
    }

    @AfterEach
    void cleanup() throws IOException {
        for (PeerProc p : procs) {
            p.p.destroyForcibly();
        }
        if (seg != null) {
            seg.unlink();
            seg.close();
        }
    }

    @Test
    void spscJavaWriterToJavaReaderDeliversEveryFrameIntact() throws Exception {
        String name = create(new Spec().ring("r", RegionKind.SPSC, 8192));
        PeerProc r = start("read", "--segment", name, "--ring", "r", "--count", "3000", "--writers", "1", "--release-every", "7");
        r.await("ready");
        PeerProc w = start("write", "--segment", name, "--ring", "r", "--count", "3000", "--size", "12:900", "--spin-us", "0",
                "--pause-us", "200");
        assertEquals("ok frames=3000", w.ok());
        String line = r.ok();
        assertTrue(line.startsWith("ok frames=3000 bytes="), line);
        assertTrue(line.endsWith(" abandoned=0"), line);
    }

    @Test
    void mpscThreeWriterProcessesInterleaveWithPerWriterOrder() throws Exception {
        String name = create(new Spec().ring("m", RegionKind.MPSC, 16384));
        int per = 2000;
        PeerProc r = start("read", "--segment", name, "--ring", "m", "--count", Integer.toString(3 * per), "--writers", "3",
                "--spin-us", "0", "--pause-us", "100", "--seed", "7");
        r.await("ready");
        List<PeerProc> ws = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ws.add(start("write", "--segment", name, "--ring", "m", "--count", Integer.toString(per), "--size", "12:700",
                    "--writer", Integer.toString(i), "--seed", Integer.toString(i), "--pause-us", i == 1 ? "300" : "0"));
        }
        for (PeerProc w : ws) {
            assertEquals("ok frames=" + per, w.ok());
        }
        assertTrue(r.ok().startsWith("ok frames=" + 3 * per + " "));
    }

    @Test
    void sigkilledWriterHoldingAnMpscClaimIsRecoveredByTheReader() throws Exception {
        String name = create(new Spec().ring("m", RegionKind.MPSC, 16384));
        int holdAt = 40;
        int other = 500;
        PeerProc r = start("read", "--segment", name, "--ring", "m", "--count", Integer.toString(holdAt + other),
                "--writers", "2");
        r.await("ready");
        PeerProc victim = start("write", "--segment", name, "--ring", "m", "--count", "1000", "--size", "64:200",
                "--writer", "0", "--hold-at", Integer.toString(holdAt));
        victim.await("holding " + holdAt);
        PeerProc w = start("write", "--segment", name, "--ring", "m", "--count", Integer.toString(other), "--size", "12:300",
                "--writer", "1");
        w.await("ready");
        // Writer 1's frames queue behind the held claim until the ring is full; the kill unblocks them.
        Thread.sleep(200);
        victim.p.destroyForcibly(); // SIGKILL mid-claim
        assertTrue(victim.p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals("ok frames=" + other, w.ok());
        String line = r.ok();
        assertTrue(line.startsWith("ok frames=" + (holdAt + other) + " "), line);
        assertTrue(line.endsWith(" abandoned=1"), line);
        assertEquals(1, seg.counters("m").abandonedRecords());
    }

    @Test
    void typedJavaWriterToJavaReaderChecksEveryField() throws Exception {
        String name = create(new Spec().ring("t", RegionKind.MPSC, 16384));
        PeerProc r = start("typed-read", "--segment", name, "--ring", "t", "--count", "1200", "--writers", "2",
                "--release-every", "5");
        r.await("ready");
        PeerProc w0 = start("typed-write", "--segment", name, "--ring", "t", "--count", "600", "--writer", "0");
        PeerProc w1 = start("typed-write", "--segment", name, "--ring", "t", "--count", "600", "--writer", "1",
                "--format", "fbs");
        assertTrue(w0.ok().startsWith("ok frames=600"));
        assertTrue(w1.ok().startsWith("ok frames=600"));
        assertEquals("ok frames=1200", r.ok());
    }

    @Test
    void typedPingAgainstTypedEcho() throws Exception {
        String name = create(new Spec().ring("a", RegionKind.SPSC, 16384).ring("b", RegionKind.SPSC, 16384));
        for (String payload : new String[] {"model", "minimal"}) {
            PeerProc e = start("typed-echo", "--segment", name, "--in", "a", "--out", "b");
            e.await("ready");
            PeerProc p = start("typed-ping", "--segment", name, "--out", "a", "--in", "b", "--iters", "2000", "--warmup", "200",
                    "--payload", payload);
            String line = p.ok();
            assertTrue(line.matches("ok p50_ns=\\d+ p99_ns=\\d+ iters=2000 bytes=\\d+"), line);
            assertEquals("ok frames=2201", e.ok());
        }
    }

    @Test
    void capnpIsAUsageErrorInJava() throws Exception {
        PeerProc p = start("typed-read", "--segment", "x", "--ring", "r", "--count", "1", "--format", "capnp");
        assertTrue(p.p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(2, p.p.exitValue());
        Thread.sleep(50);
        assertTrue(p.describe().contains("FlatBuffers only"), p.describe());
    }

    @Test
    void usageErrorsExitTwo() throws Exception {
        PeerProc p = start("write", "--ring", "r");
        assertTrue(p.p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(2, p.p.exitValue());
    }

    @Test
    void missingSegmentIsAFailLine() throws Exception {
        PeerProc p = start("read", "--segment", "fbjava-does-not-exist-" + System.nanoTime(), "--ring", "r", "--count", "1");
        assertTrue(p.p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(1, p.p.exitValue());
        Thread.sleep(50);
        assertTrue(p.describe().contains("FAIL: "), p.describe());
        assertTrue(new File("/dev/shm").isDirectory());
    }
}
