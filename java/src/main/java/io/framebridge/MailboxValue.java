package io.framebridge;

/**
 * What {@link Mailbox#load} read.
 *
 * @param version {@code seq / 2}: 0 = nothing stored yet, then 1, 2, ... per store
 * @param status  the stored status
 * @param length  payload bytes copied into the caller's array ({@code min(dst.length, capacity)})
 */
public record MailboxValue(long version, int status, int length) {}
