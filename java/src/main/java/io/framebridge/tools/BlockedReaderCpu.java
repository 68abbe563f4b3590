package io.framebridge.tools;

import io.framebridge.RegionKind;
import io.framebridge.RingReader;
import io.framebridge.Segment;
import io.framebridge.Spec;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;

/**
 * Measurement, not a test: how much CPU a reader blocked on an empty ring burns. A reader thread waits
 * on an empty ring for SECONDS (default 10) with the default spin budget; prints the thread's CPU time.
 * The target is &lt; 20 ms for 10 s.
 *
 * <pre>java -cp framebridge-0.1.0-SNAPSHOT.jar io.framebridge.tools.BlockedReaderCpu 10</pre>
 */
public final class BlockedReaderCpu {
    private BlockedReaderCpu() {}

    public static void main(String[] args) throws Exception {
        long seconds = args.length > 0 ? Long.parseLong(args[0]) : 10;
        try (Segment s = Segment.createMemfd("cpu", new Spec().ring("r", RegionKind.SPSC, 65536))) {
            RingReader r = s.reader("r");
            long[] cpu = new long[1];
            Thread t = new Thread(() -> {
                var mx = ManagementFactory.getThreadMXBean();
                long c0 = mx.getCurrentThreadCpuTime();
                r.next(seconds, TimeUnit.SECONDS);
                cpu[0] = mx.getCurrentThreadCpuTime() - c0;
            });
            t.start();
            t.join();
            System.out.printf("ok blocked_s=%d cpu_ms=%.3f reader_waits=%d%n", seconds, cpu[0] / 1e6,
                    s.counters("r").readerWaits());
        }
    }
}
