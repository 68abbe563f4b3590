package io.framebridge;

/**
 * One validated region table entry. Offsets and lengths fit in an int because the Java mapping of a
 * segment is at most 2 GiB.
 *
 * @param index    entry index in the table
 * @param name     region name
 * @param kind     ring kind or mailbox
 * @param offset   offset from the start of the segment
 * @param length   region length
 * @param capacity ring data-area bytes or mailbox payload bytes
 */
public record Region(int index, String name, RegionKind kind, long offset, long length, long capacity) {}
