package io.framebridge;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What a new segment holds: rings and mailboxes, laid out in this order from offset 4096, each on a page
 * boundary (Go {@code shm.Spec}).
 *
 * <pre>{@code
 * Spec spec = new Spec().ring("req", RegionKind.SPSC, 1 << 20).mailbox("state", 1024);
 * }</pre>
 */
public final class Spec {
    /** One entry: a ring (capacity = data-area bytes) or a mailbox (capacity = payload bytes). */
    public record Entry(String name, RegionKind kind, long capacity) {}

    private final List<Entry> entries = new ArrayList<>();

    /** Adds a ring of {@code capacity} data bytes (a power of two in [4096, 2^30]). */
    public Spec ring(String name, RegionKind kind, long capacity) {
        if (kind == null || !kind.isRing()) {
            throw new IllegalArgumentException("ring " + name + ": kind must be SPSC or MPSC, got " + kind);
        }
        if (capacity < Layout.MIN_RING_CAPACITY || capacity > Layout.MAX_RING_CAPACITY || Long.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("ring " + name + ": capacity " + capacity
                    + " is not a power of two in [" + Layout.MIN_RING_CAPACITY + ", " + Layout.MAX_RING_CAPACITY + "]");
        }
        return add(new Entry(name, kind, capacity));
    }

    /** Adds a mailbox with {@code capacity} payload bytes in [1, 2^20]. */
    public Spec mailbox(String name, long capacity) {
        if (capacity < Layout.MIN_MAILBOX_CAPACITY || capacity > Layout.MAX_MAILBOX_CAPACITY) {
            throw new IllegalArgumentException("mailbox " + name + ": capacity " + capacity + " outside [1, 2^20]");
        }
        return add(new Entry(name, RegionKind.MAILBOX, capacity));
    }

    private Spec add(Entry e) {
        Names.checkRegion(e.name());
        for (Entry x : entries) {
            if (x.name().equals(e.name())) {
                throw new IllegalArgumentException("duplicate region name " + e.name());
            }
        }
        if (entries.size() == Layout.MAX_REGIONS) {
            throw new IllegalArgumentException("more than " + Layout.MAX_REGIONS + " regions");
        }
        entries.add(e);
        return this;
    }

    public List<Entry> entries() {
        return Collections.unmodifiableList(entries);
    }

    /** Region length an entry needs (layout.md §3, §4). */
    static long regionLength(Entry e) {
        return e.kind().isRing() ? Layout.ringRegionLength(e.capacity()) : Layout.mailboxRegionLength(e.capacity());
    }

    /** Total segment size for this spec. */
    public long segmentSize() {
        long size = Layout.HEADER_LENGTH;
        for (Entry e : entries) {
            size += regionLength(e);
        }
        return size;
    }

    void validate() {
        if (entries.isEmpty()) {
            throw new IllegalArgumentException("a segment needs at least one region");
        }
        Set<String> seen = new HashSet<>();
        for (Entry e : entries) {
            if (!seen.add(e.name())) {
                throw new IllegalArgumentException("duplicate region name " + e.name());
            }
        }
    }
}
