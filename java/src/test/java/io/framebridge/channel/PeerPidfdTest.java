package io.framebridge.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.framebridge.internal.Native;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** docs/channels.md §4: a peer's pidfd ends its connection when the process exits though its socket stays open. */
class PeerPidfdTest {
    @TempDir
    Path dir;

    @Test
    void aPidfdTurnsReadableWhenItsProcessExits() throws Exception {
        Process p = new ProcessBuilder("sleep", "0.3").start();
        int fd = Native.pidfdOpenRaw((int) p.pid());
        assumeTrue(fd >= 0, "no pidfd_open here (errno " + -fd + ")");
        int[] pair = Native.socketpair();
        try {
            assertTrue(closeOnExec(fd), "a pidfd is close-on-exec");
            assertEquals(0, Native.pollSocketPidfdRaw(pair[0], fd, 0), "alive: nothing to report");
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            int r = Native.pollSocketPidfdRaw(pair[0], fd, 5000);
            assertEquals(Native.POLL_PEER_EXITED, r, "exited: the pidfd alone is readable");
        } finally {
            Sock.closeQuietly(fd);
            Sock.closeQuietly(pair[0]);
            Sock.closeQuietly(pair[1]);
        }
    }

    /** O_CLOEXEC in the fd's flags (/proc/self/fdinfo, octal). */
    static boolean closeOnExec(int fd) throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
            if (line.startsWith("flags:")) {
                return (Long.parseLong(line.substring(6).trim(), 8) & 02000000) != 0;
            }
        }
        return false;
    }

    @Test
    void aPidIsTrustedOnlyWhenTheHandshakeNamesIt() throws Exception {
        int[] pair = Native.socketpair();
        try {
            int self = (int) ProcessHandle.current().pid();
            assertEquals(PeerPidfd.NONE, PeerPidfd.open(pair[0], self, self + 1), "a pre-fork server's pid differs");
            int fd = PeerPidfd.open(pair[0], self, self);
            assertTrue(fd >= 0 || fd == PeerPidfd.NONE, "fd " + fd);
            if (fd >= 0) {
                assertTrue(closeOnExec(fd), "a pidfd is close-on-exec");
            }
            Sock.closeQuietly(fd);
        } finally {
            Sock.closeQuietly(pair[0]);
            Sock.closeQuietly(pair[1]);
        }
    }

    @Test
    void aClientThatExitsWhileItsSocketStaysOpenElsewhereIsFreed() throws Exception {
        assumeTrue(Native.pidfdOpenRaw(-1) != -38, "no pidfd_open (ENOSYS)");
        String sp = dir.resolve("s.sock").toString();
        String hp = dir.resolve("h.sock").toString();
        AtomicReference<String> reason = new AtomicReference<>();
        int listen = Sock.listen(hp, 0600, 4);
        int held = -1;
        try (FrameServer s = FrameServer.listen(sp, new FrameServer.Options().onClosed((g, r) -> reason.set(r)))
                .serve(new TestService())) {
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), HandOverClient.class.getName(), sp, hp);
            Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            int c = -1;
            for (int i = 0; i < 1000 && c < 0; i++) {
                if (Native.pollSocketRaw(listen, 10) > 0) {
                    c = Native.seqpacketAcceptRaw(listen);
                }
            }
            assertTrue(c >= 0, "the client never handed its socket over");
            byte[] buf = new byte[16];
            int[] fds = new int[2];
            int n = Sock.recv(c, buf, fds, System.nanoTime() + 10_000_000_000L, "hand-over");
            Sock.closeQuietly(c);
            held = fds[0];
            assertEquals(1, n);
            assertTrue(held >= 0, "no socket came");
            BufferedReader out = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("handed over", out.readLine());
            assertTrue(proc.waitFor(10, TimeUnit.SECONDS));
            // We hold a copy of its socket, so the server's end never reads end of file: only the pidfd can
            // tell the server the client is gone (the reason below says so). Nothing is asserted about our
            // copy: once the server frees the connection it hangs up, which may already have happened here.
            for (int i = 0; i < 1000 && (s.connections() != 0 || reason.get() == null); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, s.accepted());
            assertEquals(0, s.connections(), "the connection of the exited client must be freed");
            assertEquals("peer-dead: the client process " + proc.pid() + " exited", reason.get());
        } finally {
            Sock.closeQuietly(held);
            Sock.closeQuietly(listen);
        }
    }

    @Test
    void aServerThatExitsWhileItsSocketStaysOpenElsewhereEndsTheClient() throws Exception {
        assumeTrue(Native.pidfdOpenRaw(-1) != -38, "no pidfd_open (ENOSYS)");
        String sp = dir.resolve("s2.sock").toString();
        String hp = dir.resolve("h2.sock").toString();
        int listen = Sock.listen(hp, 0600, 4);
        int held = -1;
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), HandOverServer.class.getName(), sp, hp);
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("ready", out.readLine());
            try (FrameClient c = FrameClient.dial(sp, java.time.Duration.ofSeconds(10))) {
                int h = -1;
                for (int i = 0; i < 1000 && h < 0; i++) {
                    if (Native.pollSocketRaw(listen, 10) > 0) {
                        h = Native.seqpacketAcceptRaw(listen);
                    }
                }
                assertTrue(h >= 0, "the server never handed its socket over");
                byte[] buf = new byte[16];
                int[] fds = new int[2];
                assertEquals(1, Sock.recv(h, buf, fds, System.nanoTime() + 10_000_000_000L, "hand-over"));
                Sock.closeQuietly(h);
                held = fds[0];
                assertEquals("handed over", out.readLine());
                assertTrue(proc.waitFor(10, TimeUnit.SECONDS));
                for (int i = 0; i < 1000 && c.deadReason() == null; i++) {
                    Thread.sleep(10);
                }
                assertEquals("peer-dead: the server process " + proc.pid() + " exited", c.deadReason());
            }
        } finally {
            proc.destroyForcibly();
            Sock.closeQuietly(held);
            Sock.closeQuietly(listen);
        }
    }
}
