package shm_test

import (
	"context"
	"fmt"
	"os"

	"github.com/framebridge/framebridge/shm"
)

// A producer and a consumer of one ring. In real use they are two processes:
// the creator calls Create, the other Attach with the same name.
func Example() {
	name := fmt.Sprintf("example-%d", os.Getpid())
	seg, err := shm.Create(name, shm.Spec{Rings: []shm.RingSpec{{Name: "frames", Kind: shm.SPSC, Capacity: 1 << 20}}})
	if err != nil {
		panic(err)
	}
	defer seg.Unlink()
	defer seg.Close()

	w, _ := seg.Writer("frames")
	defer w.Close()
	buf, _ := w.Claim(context.Background(), 1, 64) // a view into the ring: build the frame in place
	n := copy(buf, "hello, zero-copy")
	w.Commit(n) // publish only the bytes used

	r, _ := seg.Reader("frames")
	defer r.Close()
	f, _ := r.Next(context.Background()) // spins briefly, then sleeps on a futex
	fmt.Printf("type %d seq %d: %s\n", f.Type, f.Seq, f.Data)
	r.Release() // f.Data must not be used after this
	// Output: type 1 seq 1: hello, zero-copy
}

// A mailbox holds the latest value; readers never see a torn one.
func ExampleMailbox() {
	seg, err := shm.CreateMemfd("config", shm.Spec{Mailboxes: []shm.MailboxSpec{{Name: "model"}}})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	w, _ := seg.MailboxWriter("model")
	w.Store(200, []byte("risk-model v42"))

	r, _ := seg.Mailbox("model")
	buf := make([]byte, r.Capacity())
	snap, _ := r.Load(buf)
	fmt.Printf("version %d status %d: %s\n", snap.Version, snap.Status, buf[:14])
	// Output: version 1 status 200: risk-model v42
}
