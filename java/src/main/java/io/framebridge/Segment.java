package io.framebridge;

import io.framebridge.internal.Native;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One shared-memory segment (layout.md §1-2): a memfd or a file under {@code /dev/shm}, mapped once.
 * Mirrors Go's {@code shm.Create}, {@code shm.CreateMemfd}, {@code shm.Attach}, {@code shm.AttachFd}.
 *
 * <p>The mapping is made with {@link FileChannel#map}. {@link #close()} releases the shared pages at once
 * (anonymous zero pages take the mapping's place, so the segment leaves /proc/PID/maps), and the garbage
 * collector unmaps the range once nothing references it: a handle used after {@link #close()} reads zeros
 * but can never fault the JVM. Every header field is validated on attach from one snapshot (see {@link #validate}).
 */
public final class Segment implements AutoCloseable {
    /** Where named segments live. */
    public static final String SHM_DIR = "/dev/shm";

    private final ByteBuffer buf;
    private final long size;
    private final String name; // null for memfd / plain path
    private final Path path; // null for memfd
    private final long generation;
    private final long creatorPid;
    private final long creatorStart;
    private final long createdUnixNano;
    private final List<Region> regions;
    private final List<AutoCloseable> handles = new ArrayList<>();
    private int fd;

    private Segment(int fd, ByteBuffer buf, long size, String name, Path path, List<Region> regions) {
        this.fd = fd;
        this.buf = buf;
        this.size = size;
        this.name = name;
        this.path = path;
        this.regions = Collections.unmodifiableList(regions);
        this.generation = buf.getLong(Layout.GENERATION_OFFSET);
        this.creatorPid = Integer.toUnsignedLong(buf.getInt(Layout.CREATOR_PID_OFFSET));
        this.creatorStart = buf.getLong(Layout.CREATOR_START_OFFSET);
        this.createdUnixNano = buf.getLong(Layout.CREATED_UNIX_NANO_OFFSET);
    }

    // ---- create ----------------------------------------------------------------------------------

    /**
     * Creates a named segment under /dev/shm (mode 0600, fully reserved with fallocate). Fails with a
     * {@link NativeException} (errno {@code EEXIST}) if the name exists.
     */
    public static Segment create(String name, Spec spec) {
        return create(name, spec, false);
    }

    /**
     * Like {@link #create(String, Spec)}; with {@code replaceStale}, an existing segment whose creator is
     * dead (or whose header is unreadable) is unlinked and re-created with the old generation + 1, while a
     * live creator is {@link BusyException} (Go {@code Options{ReplaceStale: true}}).
     */
    public static Segment create(String name, Spec spec, boolean replaceStale) {
        Names.checkSegment(name);
        spec.validate();
        Path p = Path.of(SHM_DIR, name);
        long generation = 1;
        int fd;
        try {
            fd = Native.open(p.toString(), Native.OPEN_CREATE_EXCLUSIVE);
        } catch (NativeException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            if (!replaceStale) {
                throw new NativeException("open", Errno.EEXIST, p + " exists (remove it, or create with replaceStale"
                        + " if its creator is gone)");
            }
            generation = replaceable(p, name) + 1;
            Native.unlink(p.toString());
            fd = Native.open(p.toString(), Native.OPEN_CREATE_EXCLUSIVE);
        }
        try {
            return init(fd, spec, generation, name, p, false);
        } catch (RuntimeException e) {
            closeQuietly(fd);
            try {
                Native.unlink(p.toString());
            } catch (RuntimeException e2) {
                e.addSuppressed(e2);
            }
            throw e;
        }
    }

    /** The generation of an existing segment whose creator is dead (0 if its header is unreadable). */
    private static long replaceable(Path p, String name) {
        ByteBuffer h = ByteBuffer.allocate(Layout.REGION_TABLE_OFFSET).order(ByteOrder.LITTLE_ENDIAN);
        try {
            readHeader(p, h, null);
        } catch (IOException | NativeException e) {
            return 0;
        }
        if (h.position() < Layout.REGION_TABLE_OFFSET || h.getLong(Layout.MAGIC_OFFSET) != Layout.MAGIC) {
            return 0;
        }
        long pid = Integer.toUnsignedLong(h.getInt(Layout.CREATOR_PID_OFFSET));
        if (Liveness.isAlive(pid, h.getLong(Layout.CREATOR_START_OFFSET))) {
            throw new BusyException("segment " + name + " exists and its creator (pid " + pid + ") is alive");
        }
        long g = h.getLong(Layout.GENERATION_OFFSET);
        return g < 1 ? 0 : g;
    }

    /** Creates an anonymous memfd segment, sealed against shrink/grow; pass {@link #fd()} to peers. */
    public static Segment createMemfd(String name, Spec spec) {
        Names.checkRegion(name);
        spec.validate();
        int fd = Native.memfdCreate("framebridge:" + name, true);
        try {
            return init(fd, spec, 1, null, null, true);
        } catch (RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
    }

    private static Segment init(int fd, Spec spec, long generation, String name, Path path, boolean seal) {
        long size = spec.segmentSize();
        checkMappable(size);
        Native.ftruncate(fd, size);
        try {
            Native.fallocate(fd, 0, size);
        } catch (NativeException e) {
            if (e.errno() == Errno.ENOSPC) {
                throw new NativeException("posix_fallocate", Errno.ENOSPC, size + " bytes requested; free space in "
                        + SHM_DIR + " or make the rings smaller");
            }
            throw e;
        }
        if (seal) {
            Native.addSeals(fd, Native.SEAL_SHRINK | Native.SEAL_GROW | Native.SEAL_SEAL);
        }
        ByteBuffer b = map(fd, size);
        b.putInt(Layout.VERSION_OFFSET, Layout.LAYOUT_VERSION);
        b.putInt(Layout.HEADER_LENGTH_OFFSET, Layout.HEADER_LENGTH);
        b.putLong(Layout.SEGMENT_SIZE_OFFSET, size);
        b.putLong(Layout.GENERATION_OFFSET, generation);
        b.putInt(Layout.CREATOR_PID_OFFSET, (int) Liveness.SELF_PID);
        b.putInt(Layout.REGION_COUNT_OFFSET, spec.entries().size());
        b.putLong(Layout.CREATOR_START_OFFSET, Liveness.SELF_START);
        Instant now = Instant.now();
        b.putLong(Layout.CREATED_UNIX_NANO_OFFSET, now.getEpochSecond() * 1_000_000_000L + now.getNano());
        long off = Layout.HEADER_LENGTH;
        List<Region> regions = new ArrayList<>();
        for (int i = 0; i < spec.entries().size(); i++) {
            Spec.Entry e = spec.entries().get(i);
            long len = Spec.regionLength(e);
            int entry = Layout.REGION_TABLE_OFFSET + i * Layout.REGION_ENTRY_LENGTH;
            b.putInt(entry + Layout.REGION_KIND_OFFSET, e.kind().code());
            b.putInt(entry + Layout.REGION_FLAGS_OFFSET, 0);
            b.putLong(entry + Layout.REGION_OFFSET_OFFSET, off);
            b.putLong(entry + Layout.REGION_LENGTH_OFFSET, len);
            b.putLong(entry + Layout.REGION_CAPACITY_OFFSET, e.capacity());
            byte[] nb = e.name().getBytes(StandardCharsets.US_ASCII);
            b.put(entry + Layout.REGION_NAME_OFFSET, nb);
            if (e.kind().isRing()) {
                // Sequence numbers start at 1 (layout.md §3.1); 0 would mean "none".
                b.putLong((int) off + Layout.NEXT_SEQUENCE_OFFSET, 1);
            }
            regions.add(new Region(i, e.name(), e.kind(), off, len, e.capacity()));
            off += len;
        }
        // Magic last, sequentially consistent: an attacher that sees it sees everything above.
        Mem.setLongVolatile(b, Layout.MAGIC_OFFSET, Layout.MAGIC);
        return new Segment(fd, b, size, name, path, regions);
    }

    // ---- attach ----------------------------------------------------------------------------------

    /** Attaches the named segment {@code /dev/shm/NAME} read-write. */
    public static Segment attach(String name) {
        Names.checkSegment(name);
        Path p = Path.of(SHM_DIR, name);
        int fd = Native.open(p.toString(), Native.OPEN_READ_WRITE);
        return attachOwned(fd, name, p);
    }

    /** Attaches a segment stored in any file (e.g. a private copy of a golden image). */
    public static Segment attachPath(Path path) {
        int fd = Native.open(path.toString(), Native.OPEN_READ_WRITE);
        return attachOwned(fd, null, path);
    }

    /** Attaches a segment by fd (memfd received over a socket); the fd is duplicated, the caller keeps its own. */
    public static Segment attachFd(int fd) {
        return attachOwned(Native.dup(fd), null, null);
    }

    private static Segment attachOwned(int fd, String name, Path path) {
        try {
            long size = Native.fstatSize(fd);
            if (size < Layout.HEADER_LENGTH) {
                throw new CorruptSegmentException("segment object of " + size + " bytes is smaller than the "
                        + Layout.HEADER_LENGTH + "-byte header");
            }
            checkMappable(size);
            ByteBuffer b = map(fd, size);
            List<Region> regions = validate(b, size);
            return new Segment(fd, b, size, name, path, regions);
        } catch (RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
    }

    private static void checkMappable(long size) {
        if (size > Integer.MAX_VALUE) {
            throw new FramebridgeException("segment of " + size + " bytes exceeds the 2 GiB a Java mapping supports");
        }
    }

    private static ByteBuffer map(int fd, long size) {
        // /proc/self/fd/N reopens the same object (memfd or file) so FileChannel can map it; the mapping
        // is GC-managed, so no use-after-unmap can fault the JVM.
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            return ch.map(FileChannel.MapMode.READ_WRITE, 0, size).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new FramebridgeException("mmap segment fd " + fd + ": " + e, e);
        }
    }

    /**
     * Validates the header and region table (layout.md §2) from one snapshot of each field and returns the
     * regions. Throws {@link CorruptSegmentException} naming the field, its value and the entry, or
     * {@link VersionMismatchException}.
     */
    static List<Region> validate(ByteBuffer b, long objectSize) {
        long magic = Mem.getLongAcquire(b, Layout.MAGIC_OFFSET);
        if (magic != Layout.MAGIC) {
            throw new CorruptSegmentException("header magic is 0x" + Long.toHexString(magic) + ", want 0x"
                    + Long.toHexString(Layout.MAGIC) + " (FRBRIDGE)");
        }
        long version = Integer.toUnsignedLong(b.getInt(Layout.VERSION_OFFSET));
        if (version != Layout.LAYOUT_VERSION) {
            throw new VersionMismatchException(version);
        }
        long headerLength = Integer.toUnsignedLong(b.getInt(Layout.HEADER_LENGTH_OFFSET));
        if (headerLength != Layout.HEADER_LENGTH) {
            throw corrupt("header length", headerLength, "want " + Layout.HEADER_LENGTH);
        }
        long size = b.getLong(Layout.SEGMENT_SIZE_OFFSET);
        if (size != objectSize) {
            throw corrupt("segment size", Long.toUnsignedString(size), "object size is " + objectSize);
        }
        long generation = b.getLong(Layout.GENERATION_OFFSET);
        if (generation == 0) {
            throw corrupt("generation", 0, "want >= 1");
        }
        long count = Integer.toUnsignedLong(b.getInt(Layout.REGION_COUNT_OFFSET));
        if (count < 1 || count > Layout.MAX_REGIONS) {
            throw corrupt("region count", count, "want 1.." + Layout.MAX_REGIONS);
        }
        List<Region> regions = new ArrayList<>();
        for (int i = 0; i < (int) count; i++) {
            int entry = Layout.REGION_TABLE_OFFSET + i * Layout.REGION_ENTRY_LENGTH;
            String where = "region entry " + i;
            long kindCode = Integer.toUnsignedLong(b.getInt(entry + Layout.REGION_KIND_OFFSET));
            RegionKind kind = RegionKind.of(kindCode);
            if (kind == null) {
                throw corrupt(where + " kind", kindCode, "want 1 (spsc), 2 (mpsc) or 3 (mailbox)");
            }
            long flags = Integer.toUnsignedLong(b.getInt(entry + Layout.REGION_FLAGS_OFFSET));
            if (flags != 0) {
                throw corrupt(where + " flags", flags, "want 0");
            }
            long off = b.getLong(entry + Layout.REGION_OFFSET_OFFSET);
            long len = b.getLong(entry + Layout.REGION_LENGTH_OFFSET);
            long cap = b.getLong(entry + Layout.REGION_CAPACITY_OFFSET);
            if (off % Layout.PAGE_SIZE != 0 || Long.compareUnsigned(off, Layout.HEADER_LENGTH) < 0) {
                throw corrupt(where + " offset", Long.toUnsignedString(off), "want a multiple of 4096, >= 4096");
            }
            if (len % Layout.PAGE_SIZE != 0 || len == 0) {
                throw corrupt(where + " length", Long.toUnsignedString(len), "want a non-zero multiple of 4096");
            }
            // offset + length <= size without overflow (unsigned): off <= size && len <= size - off.
            if (Long.compareUnsigned(off, size) > 0 || Long.compareUnsigned(len, size - off) > 0) {
                throw corrupt(where + " offset+length", Long.toUnsignedString(off) + "+" + Long.toUnsignedString(len),
                        "segment size is " + size);
            }
            long want;
            if (kind.isRing()) {
                if (cap < Layout.MIN_RING_CAPACITY || cap > Layout.MAX_RING_CAPACITY || Long.bitCount(cap) != 1) {
                    throw corrupt(where + " capacity", Long.toUnsignedString(cap), "want a power of two in [4096, 2^30]");
                }
                want = Layout.ringRegionLength(cap);
            } else {
                if (cap < Layout.MIN_MAILBOX_CAPACITY || cap > Layout.MAX_MAILBOX_CAPACITY) {
                    throw corrupt(where + " capacity", Long.toUnsignedString(cap), "want [1, 2^20]");
                }
                want = Layout.mailboxRegionLength(cap);
            }
            if (len != want) {
                throw corrupt(where + " length", len, "a " + kind.label() + " of capacity " + cap + " needs " + want);
            }
            String name = readName(b, entry + Layout.REGION_NAME_OFFSET, where);
            for (Region r : regions) {
                if (r.name().equals(name)) {
                    throw corrupt(where + " name", name, "duplicate of entry " + r.index());
                }
                // [off, off+len) and [r.off, r.off+r.len) overlap?
                if (off < r.offset() + r.length() && r.offset() < off + len) {
                    throw corrupt(where + " offset", off, "overlaps entry " + r.index());
                }
            }
            regions.add(new Region(i, name, kind, off, len, cap));
        }
        return regions;
    }

    private static String readName(ByteBuffer b, int at, String where) {
        int n = 0;
        while (n < Layout.REGION_NAME_LENGTH && b.get(at + n) != 0) {
            n++;
        }
        if (n == 0 || n > Layout.MAX_NAME_BYTES) {
            throw corrupt(where + " name", "(" + n + " bytes)", "want 1.." + Layout.MAX_NAME_BYTES + " bytes, NUL padded");
        }
        byte[] raw = new byte[n];
        for (int i = 0; i < n; i++) {
            raw[i] = b.get(at + i);
            if (!Names.validChar(raw[i])) {
                throw corrupt(where + " name", "byte 0x" + Integer.toHexString(raw[i] & 0xFF) + " at " + i,
                        "want [A-Za-z0-9._-]");
            }
        }
        for (int i = n; i < Layout.REGION_NAME_LENGTH; i++) {
            if (b.get(at + i) != 0) {
                throw corrupt(where + " name", "non-NUL padding at " + i, "want NUL padding");
            }
        }
        return new String(raw, StandardCharsets.US_ASCII);
    }

    private static CorruptSegmentException corrupt(String field, Object value, String want) {
        return new CorruptSegmentException("segment header: " + field + " = " + value + ": " + want);
    }

    // ---- handles ---------------------------------------------------------------------------------

    /** The region with this name, or null. */
    public Region region(String regionName) {
        for (Region r : regions) {
            if (r.name().equals(regionName)) {
                return r;
            }
        }
        return null;
    }

    private Region require(String regionName, boolean ring) {
        Region r = region(regionName);
        if (r == null) {
            throw new IllegalArgumentException("segment has no region named " + regionName);
        }
        if (r.kind().isRing() != ring) {
            throw new IllegalArgumentException("region " + regionName + " is a " + r.kind().label() + ", not a "
                    + (ring ? "ring" : "mailbox"));
        }
        return r;
    }

    private synchronized <T extends AutoCloseable> T track(T h) {
        checkOpen();
        handles.add(h);
        return h;
    }

    synchronized void untrack(AutoCloseable h) {
        handles.remove(h);
    }

    private void checkOpen() {
        if (fd < 0) {
            throw new IllegalStateException("segment is closed");
        }
    }

    /** Attaches as a writer of the ring (SPSC: the single writer slot; MPSC: a free one of 64 slots). */
    public RingWriter writer(String ring) {
        checkOpenSync();
        return track(new RingWriter(this, require(ring, true)));
    }

    /** Attaches as the ring's single reader, continuing from its head (§7). */
    public RingReader reader(String ring) {
        checkOpenSync();
        return track(new RingReader(this, require(ring, true)));
    }

    /** A handle on a mailbox: loads by anyone, stores by one writer (taken on the first store). */
    public Mailbox mailbox(String mailbox) {
        checkOpenSync();
        return track(new Mailbox(this, require(mailbox, false)));
    }

    private synchronized void checkOpenSync() {
        checkOpen();
    }

    /** A snapshot of a ring's counters (statistics only). */
    public RingCounters counters(String ring) {
        Region r = require(ring, true);
        return RingCounters.read(buf, (int) r.offset());
    }

    // ---- accessors -------------------------------------------------------------------------------

    ByteBuffer buffer() {
        return buf;
    }

    public long size() {
        return size;
    }

    /** The segment's name under /dev/shm, or null for a memfd or a plain file. */
    public String name() {
        return name;
    }

    public long generation() {
        return generation;
    }

    public long creatorPid() {
        return creatorPid;
    }

    public long creatorStart() {
        return creatorStart;
    }

    public long createdUnixNano() {
        return createdUnixNano;
    }

    public List<Region> regions() {
        return regions;
    }

    /** The segment's fd (e.g. to send a memfd to a peer with SCM_RIGHTS); valid until {@link #close()}. */
    public synchronized int fd() {
        checkOpen();
        return fd;
    }

    /**
     * True if this segment was attached or created by name and the name now refers to another generation
     * (or nothing): the creator re-created it, re-attach.
     */
    public boolean isStale() throws IOException {
        if (path == null) {
            return false;
        }
        ByteBuffer h = ByteBuffer.allocate(Layout.GENERATION_OFFSET + 8).order(ByteOrder.LITTLE_ENDIAN);
        Object[] key = new Object[1];
        try {
            readHeader(path, h, key);
        } catch (NativeException e) {
            if (e.errno() == Errno.ENOENT) {
                return true;
            }
            throw e;
        }
        // Another generation, or the same one in another file (removed and created afresh, which starts at
        // generation 1 again): the file key is (device, inode).
        Object mine = fileKey(fd);
        return h.position() < h.capacity() || h.getLong(Layout.GENERATION_OFFSET) != generation
                || mine == null || !mine.equals(key[0]);
    }

    /**
     * Reads the start of the regular file at {@code p} into {@code h} without blocking on a FIFO planted under
     * the name (the open is O_NONBLOCK and refuses non-regular files); {@code key[0]}, if given, receives its
     * (device, inode) file key.
     */
    private static void readHeader(Path p, ByteBuffer h, Object[] key) throws IOException {
        int fd = Native.open(p.toString(), Native.OPEN_READ_ONLY);
        try {
            if (key != null) {
                key[0] = fileKey(fd);
            }
            // /proc/self/fd/N reopens the same (regular) file: it cannot be swapped for a FIFO any more.
            try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ)) {
                while (h.hasRemaining() && ch.read(h) > 0) {
                    // fill
                }
            }
        } finally {
            closeQuietly(fd);
        }
    }

    /** The (device, inode) identity of the file open at fd (equals() compares both), or null. */
    private static Object fileKey(int fd) {
        try {
            return Files.readAttributes(Path.of("/proc/self/fd/" + fd), java.nio.file.attribute.BasicFileAttributes.class)
                    .fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /** Removes the name from /dev/shm (mappings stay valid). No-op for a memfd. */
    public void unlink() throws IOException {
        if (path != null) {
            Files.deleteIfExists(path);
        }
    }

    /**
     * Detaches every reader, writer and mailbox opened from this segment, closes the fd and releases the
     * mapping's shared pages (views read zeros afterwards). Idempotent.
     */
    @Override
    public void close() {
        List<AutoCloseable> hs;
        synchronized (this) {
            if (fd < 0) {
                return;
            }
            hs = new ArrayList<>(handles);
        }
        RuntimeException err = null;
        for (AutoCloseable h : hs) {
            try {
                h.close();
            } catch (Exception e) {
                if (err == null) {
                    err = new FramebridgeException("close segment: " + e.getMessage(), e);
                } else {
                    err.addSuppressed(e);
                }
            }
        }
        synchronized (this) {
            handles.clear();
            int f = fd;
            fd = -1;
            try {
                Native.close(f);
            } catch (NativeException e) {
                if (err == null) {
                    err = e;
                } else {
                    err.addSuppressed(e);
                }
            }
            try {
                // Release the shared pages now rather than when the GC gets round to the buffer: anonymous
                // zero pages take the mapping's place, so a stale view reads zeros and never faults.
                Native.retireMapping(buf);
            } catch (NativeException e) {
                if (err == null) {
                    err = e;
                } else {
                    err.addSuppressed(e);
                }
            }
        }
        if (err != null) {
            throw err;
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Native.close(fd);
        } catch (NativeException ignored) {
            // already failing; the original exception is what matters
        }
    }
}
