package io.framebridge.channel;

/**
 * Serves one request (docs/channels.md §6): read {@link Request#envelope()} (verified; valid until this
 * returns), compute, and say what to answer on {@code reply}: a status and message, and a {@link Body} that
 * the server runs after this returns to build the response in place (so a slow handler never holds ring
 * space). The body may still read the request. Throwing answers status 13 INTERNAL naming the exception
 * (a {@link CallStatusException} answers its own code and message); the server carries on. For a
 * {@code OneWay} request nothing is sent.
 */
@FunctionalInterface
public interface Handler {
    void handle(Request request, Reply reply) throws Exception;
}
