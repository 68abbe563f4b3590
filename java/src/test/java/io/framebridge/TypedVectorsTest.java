package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.tools.TestEnvelopes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The encoded test envelopes committed under {@code schemas/testdata/frames/} (manifest.json; written by
 * {@code make generate} on the Go side): every FlatBuffers one (type 16) verifies and equals envelope
 * {@code index} of writer {@code writer} field by field, read from the bytes as they are and from a ring
 * frame holding them. Cap'n Proto vectors are not for Java. Skipped with a reason while absent.
 */
class TypedVectorsTest {
    static Path dir() {
        return GoldenImageTest.testdata().resolve("frames");
    }

    @Test
    @SuppressWarnings("unchecked")
    void committedTestEnvelopesReadIdentically() throws IOException {
        Path m = dir().resolve("manifest.json");
        assumeTrue(Files.isRegularFile(m), m + " absent: no typed-frame test vectors committed yet");
        Map<String, Object> manifest = (Map<String, Object>) MiniJson.parse(Files.readString(m, StandardCharsets.UTF_8));
        List<Object> vectors = (List<Object>) manifest.get("vectors");
        EnvelopeReader er = new EnvelopeReader();
        int checked = 0;
        try (Segment s = Segment.createMemfd("vectors", new Spec().ring("r", RegionKind.SPSC, 1 << 16));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            for (Object o : vectors) {
                Map<String, Object> v = (Map<String, Object>) o;
                if (!"fbs".equals(v.get("format"))) {
                    continue; // capnp: Go and C++ only
                }
                String file = (String) v.get("file");
                assertEquals(Envelopes.TYPE, ((Number) v.get("type")).intValue(), file);
                int writer = ((Number) v.get("writer")).intValue();
                long index = ((Number) v.get("index")).longValue();
                byte[] a = Files.readAllBytes(dir().resolve(file));

                Envelope e = er.read(ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN), 0, a.length);
                assertNull(TestEnvelopes.check(er, e, writer, index), file);

                Frame f = w.claim(Envelopes.TYPE, a.length);
                f.putBytes(0, a);
                w.commit();
                assertNull(TestEnvelopes.check(er, er.read(r.next()), writer, index), file + " in a ring");
                r.release();
                checked++;
            }
        }
        System.out.println("TypedVectorsTest: " + checked + " FlatBuffers envelopes from " + dir());
        assertTrue(checked > 0, "no fbs vectors in " + m);
    }
}
