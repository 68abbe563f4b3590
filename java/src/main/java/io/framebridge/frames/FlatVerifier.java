package io.framebridge.frames;

import io.framebridge.CorruptFrameException;
import java.nio.ByteBuffer;

/**
 * A FlatBuffers verifier for Java (flatbuffers-java 2.0.8 has none): the checks of the C++
 * {@code flatbuffers::Verifier}, plus what the Java runtime needs, so that after {@link #root} and the
 * table checks of a schema pass, every generated accessor of that schema reads inside the buffer and
 * throws nothing. A bad buffer is a {@link CorruptFrameException} naming what and where (offset from the
 * buffer's start); no other exception leaves the verifier, whatever the bytes.
 *
 * <p>Checked, as in C++: the buffer's size and file identifier; the root offset; every table's soffset
 * to its vtable, the vtable's alignment and size within the buffer; every scalar field of the schema in
 * bounds and naturally aligned (relative to the buffer's start); every offset field non-zero, positive and
 * pointing inside; strings (length, bytes, NUL terminator) and vectors (length, elements) in bounds;
 * nested tables and unions; nesting depth ({@link #DEFAULT_MAX_DEPTH}) and table count
 * ({@link #DEFAULT_MAX_TABLES}). Additionally, for Java: vtable sizes and field offsets below 32768 (the
 * Java runtime reads them as signed 16-bit), strings valid UTF-8 (the String accessors throw otherwise),
 * and at most {@code 64 x buffer size} string bytes validated in total (strings shared many times cannot
 * make verification slow).
 *
 * <p>Verifying your own schema: write one method per table, as the C++ generated {@code Verify}:
 * <pre>{@code
 * static void verifyMonster(FlatVerifier v, int t) {        // t: the table's position
 *     v.scalar(t, 4, 2);                                     // short hp  (vtable offset 4, size 2)
 *     v.string(v.offset(t, 6));                              // string name
 *     v.vector(v.offset(t, 8), 1);                           // [ubyte] inventory
 *     v.table(v.offset(t, 10), MySchema::verifyWeapon);      // a nested table
 * }
 * int root = v.root(buf, start, end, "MONS");
 * v.table(root, MySchema::verifyMonster);
 * }</pre>
 * One verifier per thread; reusable; allocates nothing unless the buffer is bad.
 */
public final class FlatVerifier {
    public static final int DEFAULT_MAX_DEPTH = 64;
    public static final int DEFAULT_MAX_TABLES = 1_000_000;

    /** Verifies one table at a verified position (between the verifier's start and end). */
    @FunctionalInterface
    public interface TableVerifier {
        void verify(FlatVerifier v, int table);
    }

    private int maxDepth = DEFAULT_MAX_DEPTH;
    private int maxTables = DEFAULT_MAX_TABLES;
    private ByteBuffer bb;
    private int start;
    private int end;
    private int depth;
    private int tables;
    private long utf8Budget;

    public FlatVerifier maxDepth(int n) {
        this.maxDepth = n;
        return this;
    }

    public FlatVerifier maxTables(int n) {
        this.maxTables = n;
        return this;
    }

    int maxDepth() {
        return maxDepth;
    }

    int maxTables() {
        return maxTables;
    }

    /** The buffer being verified. */
    public ByteBuffer buffer() {
        return bb;
    }

    /** Absolute position of the buffer's first byte. */
    public int start() {
        return start;
    }

    /** Absolute position just past the buffer's last byte. */
    public int end() {
        return end;
    }

    /**
     * Starts verifying the FlatBuffers buffer {@code bb[start, end)} (absolute positions; the ByteBuffer's
     * own position and limit are not used, and its order is not changed: it must be little-endian). Checks
     * the identifier (null: none expected) and the root offset; returns the root table's absolute position
     * for {@link #table}.
     */
    public int root(ByteBuffer bb, int start, int end, String fileIdentifier) {
        if (start < 0 || end < start || end > bb.capacity()) {
            throw new IllegalArgumentException("range [" + start + ", " + end + ") outside a buffer of " + bb.capacity());
        }
        if (bb.order() != java.nio.ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalArgumentException("FlatBuffers are little-endian: order the buffer LITTLE_ENDIAN");
        }
        this.bb = bb;
        this.start = start;
        this.end = end;
        this.depth = 0;
        this.tables = 0;
        this.utf8Budget = 64L * (end - start) + 4096;
        int size = end - start;
        if (size < 4) {
            throw corrupt("buffer of " + size + " bytes is shorter than a root offset", start);
        }
        if (fileIdentifier != null) {
            if (size < 8) {
                throw corrupt("buffer of " + size + " bytes has no room for a file identifier", start);
            }
            for (int i = 0; i < 4; i++) {
                if (bb.get(start + 4 + i) != (byte) fileIdentifier.charAt(i)) {
                    throw corrupt("file identifier is not \"" + fileIdentifier + "\"", start + 4);
                }
            }
        }
        return target(start, "root offset", -1);
    }

    /** A uoffset at {@code at} (in bounds, aligned): non-zero, positive, pointing inside; returns the target. */
    private int target(int at, String what, int slot) {
        int o = bb.getInt(at);
        if (o <= 0) {
            throw corrupt(name(what, slot) + " = " + Integer.toUnsignedString(o) + ": want a positive offset", at);
        }
        if (o >= end - at) {
            throw corrupt(name(what, slot) + " = " + o + " points past the end of the " + (end - start) + "-byte buffer", at);
        }
        return at + o;
    }

    /** Messages are put together only on failure: verifying a good buffer allocates nothing. */
    private static String name(String what, int slot) {
        return slot < 0 ? what : what + " at vtable slot " + slot;
    }

    private void check(int pos, long len, int align, String what, int slot) {
        if (pos < start || pos > end || len > end - pos) {
            throw corrupt(name(what, slot) + " (" + len + " bytes) outside the " + (end - start) + "-byte buffer", pos);
        }
        if (((pos - start) & (align - 1)) != 0) {
            throw corrupt(name(what, slot) + " misaligned (want " + align + "-byte alignment)", pos);
        }
    }

    /**
     * Verifies the table at {@code table} (0: absent, accepted) with {@code tv}: its vtable, then the
     * fields {@code tv} checks; counts nesting depth and tables.
     */
    public void table(int table, TableVerifier tv) {
        if (table == 0) {
            return;
        }
        vtable(table);
        if (++depth > maxDepth) {
            throw corrupt("tables nested deeper than " + maxDepth, table);
        }
        if (++tables > maxTables) {
            throw corrupt("more than " + maxTables + " tables", table);
        }
        tv.verify(this, table);
        depth--;
    }

    /** Checks the table's soffset and vtable; returns the vtable's position. */
    private int vtable(int table) {
        check(table, 4, 4, "table", -1);
        long vt = (long) table - bb.getInt(table);
        if (vt < start || vt > end - 2) {
            throw corrupt("vtable at offset " + (vt - start) + " outside the buffer", table);
        }
        int v = (int) vt;
        check(v, 2, 2, "vtable", -1);
        int vsize = bb.getShort(v) & 0xFFFF;
        if ((vsize & 1) != 0 || vsize > 0x7FFF) {
            throw corrupt("vtable size " + vsize + ": want even and below 32768", v);
        }
        check(v, vsize, 2, "vtable", -1);
        return v;
    }

    /** Position of field {@code vo} (a vtable offset: 4, 6, 8, ...) of a verified table, or 0 if absent. */
    private int field(int table, int vo) {
        int v = vtable(table); // re-read: the bytes may be shared with a writer
        int vsize = bb.getShort(v) & 0xFFFF;
        if (vo + 2 > vsize) {
            return 0;
        }
        int fo = bb.getShort(v + vo) & 0xFFFF;
        if (fo == 0) {
            return 0;
        }
        if (fo > 0x7FFF) {
            throw corrupt("field offset " + fo + " (vtable slot " + vo + "): want below 32768", v + vo);
        }
        return table + fo;
    }

    /** Checks scalar field {@code vo} of {@code size} bytes (1, 2, 4, 8); returns its position or 0 if absent. */
    public int scalar(int table, int vo, int size) {
        int f = field(table, vo);
        if (f != 0) {
            check(f, size, size, "field", vo);
        }
        return f;
    }

    /** Checks offset field {@code vo} (to a table, string, vector or union value); returns the target or 0. */
    public int offset(int table, int vo) {
        int f = field(table, vo);
        if (f == 0) {
            return 0;
        }
        check(f, 4, 4, "offset field", vo);
        return target(f, "offset field", vo);
    }

    /** The 1-byte union type field {@code vo} (0 if absent). */
    public int unionType(int table, int vo) {
        int f = scalar(table, vo, 1);
        return f == 0 ? 0 : bb.get(f) & 0xFF;
    }

    /** Checks the string at {@code pos} (0: absent, accepted): length, bytes, NUL, UTF-8. */
    public void string(int pos) {
        if (pos == 0) {
            return;
        }
        int n = vector(pos, 1);
        int data = pos + 4;
        if (n >= end - data) {
            throw corrupt("string of " + n + " bytes has no NUL terminator inside the buffer", pos);
        }
        if (bb.get(data + n) != 0) {
            throw corrupt("string of " + n + " bytes is not NUL-terminated", data + n);
        }
        utf8Budget -= n;
        if (utf8Budget < 0) {
            throw corrupt("strings total more than 64x the buffer size (shared too often)", pos);
        }
        utf8(data, n);
    }

    /**
     * Checks the vector at {@code pos} (0: absent, accepted) of {@code elemSize}-byte elements; returns its
     * length (0 if absent). Elements of offsets (strings, tables) need {@link #strings} / {@link #tables}.
     */
    public int vector(int pos, int elemSize) {
        if (pos == 0) {
            return 0;
        }
        check(pos, 4, 4, "vector length", -1);
        int n = bb.getInt(pos);
        if (n < 0) {
            throw corrupt("vector length " + Integer.toUnsignedString(n) + " too large", pos);
        }
        check(pos, 4 + (long) n * elemSize, 4, "vector", -1);
        return n;
    }

    /** Checks a vector of strings at {@code pos} (0: absent) and every string in it; returns its length. */
    public int strings(int pos) {
        int n = vector(pos, 4);
        for (int i = 0; i < n; i++) {
            string(element(pos, i));
        }
        return n;
    }

    /** Checks a vector of tables at {@code pos} (0: absent) and every table with {@code tv}; returns its length. */
    public int tables(int pos, TableVerifier tv) {
        int n = vector(pos, 4);
        for (int i = 0; i < n; i++) {
            table(element(pos, i), tv);
        }
        return n;
    }

    /** Target of element i of a verified vector of offsets (as the Java runtime computes it, signed). */
    private int element(int vec, int i) {
        int at = vec + 4 + 4 * i;
        int o = bb.getInt(at);
        if (o < 0 || o >= end - at) {
            throw corrupt("element " + i + " offset " + Integer.toUnsignedString(o) + " points outside the buffer", at);
        }
        return at + o;
    }

    /** UTF-8 as the flatbuffers-java decoder (Utf8Safe) accepts it: no overlong, surrogate or > U+10FFFF. */
    private void utf8(int p, int n) {
        int lim = p + n;
        while (p < lim) {
            int b1 = bb.get(p);
            if (b1 >= 0) {
                p++;
                continue;
            }
            int at = p;
            b1 &= 0xFF;
            if (b1 < 0xC2 || b1 > 0xF4) {
                throw corrupt("string is not UTF-8 (byte 0x" + Integer.toHexString(b1) + ")", at);
            }
            int need = b1 < 0xE0 ? 1 : b1 < 0xF0 ? 2 : 3;
            if (lim - p - 1 < need) {
                throw corrupt("string is not UTF-8 (truncated sequence)", at);
            }
            int b2 = bb.get(p + 1) & 0xFF;
            if ((b2 & 0xC0) != 0x80
                    || (b1 == 0xE0 && b2 < 0xA0) // overlong
                    || (b1 == 0xED && b2 >= 0xA0) // surrogate
                    || (b1 == 0xF0 && b2 < 0x90) // overlong
                    || (b1 == 0xF4 && b2 > 0x8F)) { // above U+10FFFF
                throw corrupt("string is not UTF-8", at);
            }
            for (int k = 2; k <= need; k++) {
                if ((bb.get(p + k) & 0xC0) != 0x80) {
                    throw corrupt("string is not UTF-8", at);
                }
            }
            p += need + 1;
        }
    }

    private CorruptFrameException corrupt(String what, long pos) {
        return new CorruptFrameException(what + " (at offset " + (pos - start) + ")");
    }
}
