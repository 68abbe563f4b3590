module github.com/framebridge/framebridge

go 1.24
