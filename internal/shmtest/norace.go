//go:build !race

package shmtest

// Race reports whether the race detector is on: tests with real processes
// move far fewer frames then.
const Race = false
