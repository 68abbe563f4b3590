/**
 * The JNI shim ({@link io.framebridge.internal.Native}: one system call per method, {@code -errno} on
 * failure, typed {@link io.framebridge.NativeException}s from the wrappers) and its loader
 * ({@link io.framebridge.internal.NativeLoader}: {@code java.library.path}, then the jar's copy extracted
 * under {@code -Dframebridge.native.dir} or {@code java.io.tmpdir}). Not a stable API.
 */
package io.framebridge.internal;
