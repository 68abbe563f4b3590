package shm_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

func TestCreateRejectsBadSpecsWithAClearError(t *testing.T) {
	name := shmtest.Name(t)
	cases := []struct {
		name string
		spec shm.Spec
		want string
	}{
		{"no regions", shm.Spec{}, "0 regions"},
		{"capacity not a power of two", oneRing(shm.SPSC, 5000), "power of two"},
		{"capacity too small", oneRing(shm.SPSC, 1024), "power of two"},
		{"unknown kind", shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: 9, Capacity: 4096}}}, "kind"},
		{"duplicate names", shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: shm.SPSC, Capacity: 4096}}, Mailboxes: []shm.MailboxSpec{{Name: "r"}}}, "twice"},
		{"bad region name", shm.Spec{Rings: []shm.RingSpec{{Name: "a/b", Kind: shm.SPSC, Capacity: 4096}}}, "may only hold"},
		{"mailbox too large", shm.Spec{Mailboxes: []shm.MailboxSpec{{Name: "m", PayloadSize: 1 << 21}}}, "payload size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := shm.Create(name, c.spec)
			if !errors.Is(err, shm.ErrInvalidSpec) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalidSpec mentioning %q", err, c.want)
			}
			if _, err := os.Stat(shm.Path(name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a failed create left a file behind")
			}
		})
	}
	for _, bad := range []string{"", "..", "a/b", strings.Repeat("x", 32), "sp ace"} {
		if _, err := shm.Create(bad, oneRing(shm.SPSC, 4096)); !errors.Is(err, shm.ErrInvalidSpec) {
			t.Errorf("segment name %q: %v", bad, err)
		}
	}
}

func TestNamedSegmentIsPrivateExclusiveAndFullyReserved(t *testing.T) {
	seg := shmtest.NewSegment(t, shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: shm.SPSC, Capacity: 1 << 16}}, Mailboxes: []shm.MailboxSpec{{Name: "m"}}})
	st, err := os.Stat(shm.Path(seg.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if uint64(st.Size()) != seg.Header().Size || seg.Header().Size != 4096+4096+1<<16+4096 {
		t.Fatalf("size %d / header %d", st.Size(), seg.Header().Size)
	}
	if _, err := shm.Create(seg.Name(), oneRing(shm.SPSC, 4096)); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	if _, err := shm.Create(seg.Name(), oneRing(shm.SPSC, 4096), shm.Options{ReplaceStale: true}); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("replacing a live creator's segment: %v, want ErrExist", err)
	}
	other, err := shm.Attach(seg.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h := other.Header()
	if h.Generation != 1 || h.CreatorPID != uint32(os.Getpid()) || !h.CreatorLive || len(h.Regions) != 2 {
		t.Fatalf("header %+v", h)
	}
}

func TestAttachMissingSegmentSaysSo(t *testing.T) {
	_, err := shm.Attach(shmtest.Name(t))
	if !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("got %v, want ErrNotExist", err)
	}
}

func TestMemfdSegmentIsSharedThroughItsFd(t *testing.T) {
	seg, err := shm.CreateMemfd("test", oneRing(shm.SPSC, 4096))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if err := seg.Seal(); err != nil {
		t.Fatal(err)
	}
	peer, err := shm.AttachFd(seg.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	w, _ := seg.Writer("r")
	r, _ := peer.Reader("r")
	w.Write(context.Background(), 1, []byte("through the fd"))
	f, err := r.Next(context.Background())
	if err != nil || string(f.Data) != "through the fd" {
		t.Fatalf("%q %v", f.Data, err)
	}
	if stale, err := seg.Stale(); stale || err != nil {
		t.Fatal("a memfd segment is never stale")
	}
	if err := seg.Close(); err != nil || seg.Close() != nil {
		t.Fatal("Close must be idempotent")
	}
}

// Every header field is validated on attach: a table of targeted
// corruptions of a valid image, each a clear typed error.
func TestAttachValidatesEveryHeaderField(t *testing.T) {
	seg := shmtest.NewSegment(t, shm.Spec{
		Rings:     []shm.RingSpec{{Name: "a", Kind: shm.SPSC, Capacity: 4096}, {Name: "b", Kind: shm.MPSC, Capacity: 8192}},
		Mailboxes: []shm.MailboxSpec{{Name: "m", PayloadSize: 100}},
	})
	good := make([]byte, seg.Header().Size)
	copy(good, rawMap(t, seg))
	le := binary.LittleEndian
	e1 := uint64(shm.RegionTableOffset + shm.RegionEntryLength) // entry of ring "b"
	cases := []struct {
		name  string
		patch func(b []byte)
		want  error
		field string
	}{
		{"wrong magic", func(b []byte) { b[0] = 'X' }, shm.ErrCorrupt, "magic"},
		{"another layout version", func(b []byte) { le.PutUint32(b[shm.VersionOffset:], 2) }, shm.ErrVersionMismatch, "version 2"},
		{"header length", func(b []byte) { le.PutUint32(b[shm.HeaderLengthOffset:], 8192) }, shm.ErrCorrupt, "header length"},
		{"segment size differs from the file", func(b []byte) { le.PutUint64(b[shm.SegmentSizeOffset:], 1<<20) }, shm.ErrCorrupt, "segment size"},
		{"generation zero", func(b []byte) { le.PutUint64(b[shm.GenerationOffset:], 0) }, shm.ErrCorrupt, "generation"},
		{"no regions", func(b []byte) { le.PutUint32(b[shm.RegionCountOffset:], 0) }, shm.ErrCorrupt, "region count"},
		{"too many regions", func(b []byte) { le.PutUint32(b[shm.RegionCountOffset:], 33) }, shm.ErrCorrupt, "region count"},
		{"unknown region kind", func(b []byte) { le.PutUint32(b[e1+shm.RegionKindOffset:], 7) }, shm.ErrCorrupt, "region kind"},
		{"region flags", func(b []byte) { le.PutUint32(b[e1+shm.RegionFlagsOffset:], 1) }, shm.ErrCorrupt, "region flags"},
		{"region offset inside the header", func(b []byte) { le.PutUint64(b[e1+shm.RegionOffsetOffset:], 0) }, shm.ErrCorrupt, "region offset"},
		{"region offset not page aligned", func(b []byte) { le.PutUint64(b[e1+shm.RegionOffsetOffset:], 4096*3+8) }, shm.ErrCorrupt, "region offset"},
		{"overlapping regions", func(b []byte) { le.PutUint64(b[e1+shm.RegionOffsetOffset:], 4096) }, shm.ErrCorrupt, "overlaps"},
		{"region past the end", func(b []byte) { le.PutUint64(b[e1+shm.RegionOffsetOffset:], 1<<40) }, shm.ErrCorrupt, "past the end"},
		{"offset+length overflows", func(b []byte) { le.PutUint64(b[e1+shm.RegionOffsetOffset:], ^uint64(0)&^4095) }, shm.ErrCorrupt, "past the end"},
		{"ring capacity not a power of two", func(b []byte) { le.PutUint64(b[e1+shm.RegionCapacityOffset:], 6000) }, shm.ErrCorrupt, "ring capacity"},
		{"ring length does not match its capacity", func(b []byte) { le.PutUint64(b[e1+shm.RegionCapacityOffset:], 4096) }, shm.ErrCorrupt, "needs"},
		{"empty region name", func(b []byte) { b[e1+shm.RegionNameOffset] = 0 }, shm.ErrCorrupt, "region name"},
		{"bytes after the name's NUL", func(b []byte) { b[e1+shm.RegionNameOffset+20] = 'z' }, shm.ErrCorrupt, "region name"},
		{"duplicate region names", func(b []byte) { b[e1+shm.RegionNameOffset] = 'a' }, shm.ErrCorrupt, "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := append([]byte(nil), good...)
			c.patch(img)
			path := filepath.Join(t.TempDir(), "seg")
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			_, err := shm.AttachFd(int(f.Fd()))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("got %v, want %v naming %q", err, c.want, c.field)
			}
		})
	}
	t.Run("a file shorter than the header", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seg")
		os.WriteFile(path, good[:100], 0o600)
		f, _ := os.OpenFile(path, os.O_RDWR, 0)
		defer f.Close()
		if _, err := shm.AttachFd(int(f.Fd())); !errors.Is(err, shm.ErrCorrupt) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestReadOnlyAttachRefusesRoles(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	ro, err := shm.Attach(seg.Name(), shm.AttachOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Writer("r"); !errors.Is(err, shm.ErrPermission) {
		t.Fatalf("writer on a read-only attach: %v", err)
	}
	if _, _, err := ro.Stats(); err != nil {
		t.Fatal(err)
	}
}
