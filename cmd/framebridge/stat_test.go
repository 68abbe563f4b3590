package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/framebridge/framebridge/shm"
)

func TestStatShowsPositionsCountersAndWhoIsAttached(t *testing.T) {
	name := fmt.Sprintf("stat-test-%d", os.Getpid())
	seg, err := shm.Create(name, shm.Spec{
		Rings:     []shm.RingSpec{{Name: "media", Kind: shm.MPSC, Capacity: 1 << 16}},
		Mailboxes: []shm.MailboxSpec{{Name: "state"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Unlink()
	defer seg.Close()
	w, _ := seg.Writer("media")
	defer w.Close()
	r, _ := seg.Reader("media")
	defer r.Close()
	for i := 0; i < 3; i++ {
		w.Write(context.Background(), 1, []byte("frame"))
	}
	r.TryNext()
	r.Release()

	ro, err := shm.Attach(name, shm.AttachOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var out strings.Builder
	if err := printStat(&out, ro); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"segment " + name, "layout v1", "generation 1",
		"ring media", "mpsc", "capacity 65536",
		"frames written  3", "frames read     1",
		fmt.Sprintf("reader 0        pid %d  alive", os.Getpid()),
		fmt.Sprintf("writer 0        pid %d  alive", os.Getpid()),
		"mailbox state", "version 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stat output lacks %q:\n%s", want, text)
		}
	}
}

func TestStatOfAMissingSegmentFails(t *testing.T) {
	if code := runStat([]string{"no-such-segment-" + fmt.Sprint(os.Getpid())}); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if code := runStat(nil); code != 2 {
		t.Fatalf("no name: exit code %d, want 2", code)
	}
}
