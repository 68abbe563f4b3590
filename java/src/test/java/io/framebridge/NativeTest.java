package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.framebridge.internal.Native;
import io.framebridge.internal.NativeLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every operation of the JNI shim, and its typed errors. */
class NativeTest {
    @TempDir
    Path tmp;

    @Test
    void libraryShipsUnderMetaInfNativeWithOsAndArchInItsName() {
        assertEquals("META-INF/native/libframebridge-linux-" + NativeLoader.arch() + ".so", NativeLoader.resourcePath());
        assertNotNull(NativeLoader.class.getClassLoader().getResource(NativeLoader.resourcePath()));
        NativeLoader.load(); // idempotent
    }

    @Test
    void memfdFtruncateFallocateFstatAndClose() {
        int fd = Native.memfdCreate("nt", true);
        try {
            Native.ftruncate(fd, 8192);
            Native.fallocate(fd, 0, 16384);
            assertEquals(16384, Native.fstatSize(fd));
            Native.addSeals(fd, Native.SEAL_GROW | Native.SEAL_SHRINK | Native.SEAL_SEAL);
            NativeException e = assertThrows(NativeException.class, () -> Native.ftruncate(fd, 4096));
            assertEquals("ftruncate", e.operation());
            assertEquals(Errno.EPERM, e.errno());
        } finally {
            Native.close(fd);
        }
        NativeException e = assertThrows(NativeException.class, () -> Native.close(fd));
        assertEquals(Errno.EBADF, e.errno());
        assertTrue(e.getMessage().contains("close") && e.getMessage().contains("EBADF"), e.getMessage());
    }

    @Test
    void openIsExclusiveWithMode0600AndUnlinkRemoves() throws Exception {
        String p = tmp.resolve("f").toString();
        int fd = Native.open(p, Native.OPEN_CREATE_EXCLUSIVE);
        Native.close(fd);
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                java.nio.file.Files.getPosixFilePermissions(Path.of(p))));
        NativeException e = assertThrows(NativeException.class, () -> Native.open(p, Native.OPEN_CREATE_EXCLUSIVE));
        assertEquals(Errno.EEXIST, e.errno());
        assertEquals("open", e.operation());
        int ro = Native.open(p, Native.OPEN_READ_ONLY);
        int dup = Native.dup(ro);
        assertTrue(dup != ro);
        Native.close(dup);
        Native.close(ro);
        Native.unlink(p);
        assertEquals(Errno.ENOENT, assertThrows(NativeException.class, () -> Native.open(p, Native.OPEN_READ_WRITE)).errno());
        assertEquals(Errno.ENOENT, assertThrows(NativeException.class, () -> Native.unlink(p)).errno());
    }

    @Test
    void mmapWrapMunmap() {
        int fd = Native.memfdCreate("map", false);
        try {
            Native.ftruncate(fd, 4096);
            long addr = Native.mmap(fd, 4096, false);
            ByteBuffer b = Native.wrap(addr, 4096).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(8, 0x1122334455667788L);
            long addr2 = Native.mmap(fd, 4096, true);
            ByteBuffer b2 = Native.wrap(addr2, 4096).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x1122334455667788L, b2.getLong(8), "both mappings share the memfd");
            Native.munmap(addr2, 4096);
            Native.munmap(addr, 4096);
            assertEquals(Errno.EINVAL, assertThrows(NativeException.class, () -> Native.mmap(fd, 0, false)).errno());
            assertThrows(IllegalArgumentException.class, () -> Native.wrap(0, 10));
        } finally {
            Native.close(fd);
        }
    }

    @Test
    void futexWaitTimesOutReturnsAtOnceOnAChangedValueAndIsWoken() throws Exception {
        ByteBuffer b = ByteBuffer.allocateDirect(64).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(Native.FUTEX_TIMED_OUT, Native.futexWait(b, 8, 0, 1_000_000));
        assertEquals(Native.FUTEX_VALUE_CHANGED, Native.futexWait(b, 8, 5, -1));
        assertEquals(0, Native.futexWake(b, 8, 1), "nobody sleeps");
        CountDownLatch started = new CountDownLatch(1);
        AtomicInteger result = new AtomicInteger(-1);
        Thread t = new Thread(() -> {
            started.countDown();
            int r;
            do {
                r = Native.futexWait(b, 8, 0, 5_000_000_000L);
            } while (r == Native.FUTEX_INTERRUPTED || (r == Native.FUTEX_WOKEN && b.getInt(8) == 0));
            result.set(r);
        });
        t.start();
        started.await();
        while (t.getState() != Thread.State.RUNNABLE) {
            Thread.onSpinWait();
        }
        Thread.sleep(20);
        b.putInt(8, 1);
        Native.futexWake(b, 8, Integer.MAX_VALUE);
        t.join();
        assertTrue(result.get() == Native.FUTEX_WOKEN || result.get() == Native.FUTEX_VALUE_CHANGED, "result " + result.get());
    }

    @Test
    void futexRejectsOutOfBoundsAndMisalignedWordsInJavaBeforeAnyNativeCall() {
        ByteBuffer b = ByteBuffer.allocateDirect(64);
        assertThrows(IndexOutOfBoundsException.class, () -> Native.futexWait(b, 61, 0, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> Native.futexWait(b, -4, 0, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> Native.futexWake(b, 6, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> Native.futexWake(b, Long.MAX_VALUE, 1));
        assertThrows(IllegalArgumentException.class, () -> Native.futexWait(ByteBuffer.allocate(64), 0, 0, 0));
    }

    @Test
    void fdPassingOverAUnixSocketAndPeerCredentials() {
        int[] sv = Native.socketpair();
        int fd = Native.memfdCreate("pass", false);
        try {
            Native.ftruncate(fd, 12345);
            Native.sendFd(sv[0], fd);
            int got = Native.recvFd(sv[1]);
            try {
                assertTrue(got != fd);
                assertEquals(12345, Native.fstatSize(got), "the received fd is the same object");
            } finally {
                Native.close(got);
            }
            int[] cred = Native.peerCred(sv[1]);
            assertEquals(ProcessHandle.current().pid(), cred[0]);
            Native.close(sv[0]);
            sv[0] = -1;
            NativeException e = assertThrows(NativeException.class, () -> Native.recvFd(sv[1]));
            assertEquals(Errno.ECONNRESET, e.errno(), "EOF is reported, not an fd");
            assertEquals(Errno.EBADF, assertThrows(NativeException.class, () -> Native.sendFd(-1, fd)).errno());
            assertEquals(Errno.EBADF, assertThrows(NativeException.class, () -> Native.peerCred(-1)).errno());
        } finally {
            Native.close(fd);
            if (sv[0] >= 0) {
                Native.close(sv[0]);
            }
            Native.close(sv[1]);
        }
    }

    @Test
    void memfdSegmentTravelsOverASocketAndAttachesByFd() {
        int[] sv = Native.socketpair();
        try (Segment s = Segment.createMemfd("fdseg", new Spec().ring("r", RegionKind.SPSC, 4096));
                RingWriter w = s.writer("r")) {
            w.claim(5, 3).putBytes(0, new byte[] {1, 2, 3});
            w.commit();
            Native.sendFd(sv[0], s.fd());
            int fd = Native.recvFd(sv[1]);
            try (Segment t = Segment.attachFd(fd); RingReader r = t.reader("r")) {
                Frame f = r.tryNext();
                assertEquals(5, f.type());
                assertEquals(3, f.getByte(2));
            } finally {
                Native.close(fd);
            }
        } finally {
            Native.close(sv[0]);
            Native.close(sv[1]);
        }
    }
}
