module github.com/framebridge/framebridge

go 1.24.0

require (
	capnproto.org/go/capnp/v3 v3.1.0-alpha.2
	github.com/google/flatbuffers v2.0.8+incompatible
	golang.org/x/sys v0.41.0
)

require (
	github.com/colega/zeropool v0.0.0-20230505084239-6fb4a4f75381 // indirect
	golang.org/x/sync v0.7.0 // indirect
)
