// Package peer implements the peer-program contract of docs/peers.md in Go:
// the same write/read/echo/ping/stream commands the C++ and Java peers
// implement, so tests and the bench can pair any two languages.
package peer

import (
	"encoding/binary"
	"fmt"
)

// Frame types of the peer protocol.
const (
	TypeData = 1
	TypeStop = 2
)

// HeaderBytes is the part of a test frame that names its writer and index.
const HeaderBytes = 12

// Sizes is an inclusive range of payload sizes.
type Sizes struct{ Min, Max int }

// ParseSizes parses "S" or "MIN:MAX".
func ParseSizes(s string) (Sizes, error) {
	var z Sizes
	if n, err := fmt.Sscanf(s, "%d:%d", &z.Min, &z.Max); err == nil && n == 2 {
	} else if n, err := fmt.Sscanf(s, "%d", &z.Min); err == nil && n == 1 {
		z.Max = z.Min
	} else {
		return z, fmt.Errorf("size %q: want S or MIN:MAX", s)
	}
	if z.Min < HeaderBytes || z.Max < z.Min {
		return z, fmt.Errorf("size %q: want %d <= MIN <= MAX", s, HeaderBytes)
	}
	return z, nil
}

// Size returns the payload size of frame i.
func (z Sizes) Size(i uint64) int {
	return z.Min + int((i*7919)%uint64(z.Max-z.Min+1))
}

// Fill writes frame i of writer w into b.
func Fill(b []byte, w uint32, i uint64) {
	binary.LittleEndian.PutUint32(b[0:4], w)
	binary.LittleEndian.PutUint64(b[4:12], i)
	v := byte(i) + byte(w) + 7*HeaderBytes
	for k := HeaderBytes; k < len(b); k++ {
		b[k] = v
		v += 7
	}
}

// Ident returns the writer and index a test frame claims to be.
func Ident(b []byte) (w uint32, i uint64, err error) {
	if len(b) < HeaderBytes {
		return 0, 0, fmt.Errorf("frame of %d bytes is shorter than the %d-byte test header", len(b), HeaderBytes)
	}
	return binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint64(b[4:12]), nil
}

// Check verifies every byte of a test frame after its header.
func Check(b []byte, w uint32, i uint64) error {
	v := byte(i) + byte(w) + 7*HeaderBytes
	for k := HeaderBytes; k < len(b); k++ {
		if b[k] != v {
			return fmt.Errorf("writer %d frame %d: byte %d is %#x, want %#x", w, i, k, b[k], v)
		}
		v += 7
	}
	return nil
}
