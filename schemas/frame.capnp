# framebridge frames (Cap'n Proto): the same messages as frame.fbs, for users
# who prefer Cap'n Proto. Field by field the same meaning; evolution rules in
# docs/schemas.md. Go and C++ only (there is no Cap'n Proto code generator for
# Java here).
@0xa054f1ea04071d74;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("framebridge::frames::capnp");

using Go = import "/go.capnp";
$Go.package("framescapnp");
$Go.import("github.com/framebridge/framebridge/frames/framescapnp");

enum Kind {
  unspecified @0;
  request @1;
  response @2;
  oneWay @3;
  control @4;
}

struct TraceContext {
  traceparent @0 :Text;
  tracestate @1 :Text;
}

enum MediaFormat {
  unknown @0;
  pcmS16le @1;
  pcmF32le @2;
  opus @3;
  aac @4;
  h264 @5;
  h265 @6;
  vp8 @7;
  vp9 @8;
  av1 @9;
  rgb24 @10;
  yuv420p @11;
}

struct MediaChunk {
  codec @0 :Text;
  format @1 :MediaFormat;
  streamId @2 :UInt64;
  ptsNs @3 :Int64;
  dtsNs @4 :Int64;
  durationNs @5 :Int64;
  sampleRate @6 :UInt32;
  channels @7 :UInt16;
  width @8 :UInt16;
  height @9 :UInt16;
  keyframe @10 :Bool;
  data @11 :Data;
}

enum DType {
  float32 @0;
  float64 @1;
  int32 @2;
  int64 @3;
  uint8 @4;
  float16 @5;
}

struct Tensor {
  dtype @0 :DType;
  shape @1 :List(Int64);
  data @2 :Data;
}

struct ModelRequest {
  modelName @0 :Text;
  modelVersion @1 :Text;
  features @2 :Tensor;
}

struct ModelResponse {
  modelName @0 :Text;
  modelVersion @1 :Text;
  scores @2 :List(Float32);
  labels @3 :List(Text);
  queueNs @4 :Int64;
  inferenceNs @5 :Int64;
  totalNs @6 :Int64;
}

struct Envelope {
  sequence @0 :UInt64;
  status @1 :Int32;
  statusMessage @2 :Text;
  kind @3 :Kind;
  correlationId @4 :UInt64;
  deadlineUnixNano @5 :Int64;
  trace @6 :TraceContext;
  payload :union {
    none @7 :Void;
    mediaChunk @8 :MediaChunk;
    modelRequest @9 :ModelRequest;
    modelResponse @10 :ModelResponse;
    raw @11 :Data;
  }
}
