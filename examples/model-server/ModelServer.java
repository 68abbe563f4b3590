// ModelServer: the Java side of `make demo`. A channel server (the model-service adapter) whose model
// scores a feature tensor: a logistic regression over 256 loudness features, answering
// ModelResponse{scores [p(loud), p(quiet)], labels ["loud", "quiet"], timings}. Run it from source with
// the framebridge jar on the class path (Java 17 launches single-file programs):
//
//   java -cp java/target/framebridge-0.1.0-SNAPSHOT-peer.jar examples/model-server/ModelServer.java SOCKET_PATH
//
// It prints "listening" once clients can dial, and serves until its standard input reaches end of file.

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.channel.Body;
import io.framebridge.channel.Fields;
import io.framebridge.channel.FrameServer;
import io.framebridge.channel.Handler;
import io.framebridge.channel.Reply;
import io.framebridge.channel.Request;
import io.framebridge.frames.fb.DType;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Tensor;

public final class ModelServer {
    private static final int FEATURES = 256;
    private static final float WEIGHT = 40f / FEATURES; // loud when the mean |amplitude| is above ~0.1
    private static final float BIAS = -4f;

    /** One per handler thread: the model's output, and the body that writes it (no garbage per call). */
    private static final class Scorer implements Handler, Body {
        private final Tensor tensor = new Tensor();
        private final float[] scores = new float[2];
        private long sequence, inferenceNs, startNs;

        @Override
        public void handle(Request request, Reply reply) {
            startNs = System.nanoTime();
            sequence = request.envelope().sequence();
            ModelRequest m = request.reader().modelRequest();
            Tensor t = m == null ? null : m.features(tensor);
            if (t == null || t.dtype() != DType.Float32 || t.dataLength() != 4 * FEATURES) {
                reply.status(3, "ModelServer wants a ModelRequest with " + FEATURES + " float32 features");
                return;
            }
            float z = BIAS;
            for (int k = 0; k < FEATURES; k++) {
                int bits = (t.data(4 * k) & 0xFF) | (t.data(4 * k + 1) & 0xFF) << 8 | (t.data(4 * k + 2) & 0xFF) << 16
                        | (t.data(4 * k + 3) & 0xFF) << 24;
                z += WEIGHT * Float.intBitsToFloat(bits);
            }
            scores[0] = (float) (1 / (1 + Math.exp(-z)));
            scores[1] = 1 - scores[0];
            inferenceNs = System.nanoTime() - startNs;
            reply.body(this);
        }

        @Override
        public void build(FlatBufferBuilder b, Fields f) {
            int name = b.createString("loudness");
            int version = b.createString("v1");
            int s = ModelResponse.createScoresVector(b, scores);
            int loud = b.createString("loud");
            int quiet = b.createString("quiet");
            ModelResponse.startLabelsVector(b, 2);
            b.addOffset(quiet);
            b.addOffset(loud);
            int labels = b.endVector();
            long total = System.nanoTime() - startNs;
            f.sequence(sequence);
            f.payload(Payload.ModelResponse, ModelResponse.createModelResponse(b, name, version, s, labels, 0, inferenceNs, total));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java -cp framebridge.jar ModelServer.java SOCKET_PATH");
            System.exit(2);
        }
        ThreadLocal<Scorer> scorers = ThreadLocal.withInitial(Scorer::new);
        try (FrameServer server = FrameServer.listen(args[0], new FrameServer.Options())) {
            server.serve((req, reply) -> scorers.get().handle(req, reply));
            System.out.println("listening");
            System.out.flush();
            while (System.in.read() >= 0) {
                // serve until the parent closes our stdin
            }
        }
    }
}
