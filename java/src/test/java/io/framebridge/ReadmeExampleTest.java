package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The producer/consumer of java/README.md, as written there (with a unique segment name). */
class ReadmeExampleTest {
    @Test
    void producerThenConsumerAsInTheReadme() throws Exception {
        String name = "fbjava-readme-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (Segment seg = Segment.create(name, new Spec().ring("events", RegionKind.SPSC, 1 << 20));
                RingWriter w = seg.writer("events")) {
            for (long i = 0; i < 1000; i++) {
                Frame f = w.claim(1, 16);
                f.putLong(0, i).putLong(8, System.nanoTime());
                w.commit();
            }
        }
        long sum = 0;
        int got = 0;
        try (Segment seg = Segment.attach(name);
                RingReader r = seg.reader("events")) {
            try {
                for (int n = 0; n < 1000; n++) {
                    Frame f = r.next(5, TimeUnit.SECONDS);
                    if (f == null) {
                        break;
                    }
                    sum += f.getLong(0);
                    got++;
                    if (n % 16 == 15) {
                        r.release();
                    }
                }
                r.release();
            } finally {
                seg.unlink();
            }
        }
        assertEquals(1000, got);
        assertEquals(999L * 1000 / 2, sum);
    }
}
