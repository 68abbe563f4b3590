package main

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lineWriter hands each line written to it to a channel.
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.lines <- l
	}
	return len(p), nil
}

func TestPingAgainstServeReportsPercentilesAndServeCountsEveryCall(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "echo.sock")
	stdinR, stdinW := io.Pipe()
	srvOut := lineWriter{make(chan string, 4)}
	var srvErr strings.Builder
	srvCode := make(chan int, 1)
	go func() { srvCode <- run([]string{"serve", "--socket", sock}, stdinR, srvOut, &srvErr) }()
	select {
	case l := <-srvOut.lines:
		if l != "ready" {
			t.Fatalf("serve printed %q before ready (stderr %q)", l, srvErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve printed nothing")
	}

	var out, errOut strings.Builder
	if code := run([]string{"ping", "--socket", sock, "--iters", "200", "--warmup", "20", "--size", "100"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("ping exited %d: %s %s", code, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != "ready" {
		t.Fatalf("ping printed %q", out.String())
	}
	var p50, p99, iters int64
	if _, err := fmt.Sscanf(lines[1], "ok p50_ns=%d p99_ns=%d iters=%d", &p50, &p99, &iters); err != nil {
		t.Fatalf("ping's result %q: %v", lines[1], err)
	}
	if p50 <= 0 || p99 < p50 || iters != 200 {
		t.Errorf("ping's result %q: want 0 < p50 <= p99 and iters=200", lines[1])
	}

	stdinW.Close() // end of stdin stops the server
	if code := <-srvCode; code != 0 {
		t.Fatalf("serve exited %d (stderr %q)", code, srvErr.String())
	}
	if l := <-srvOut.lines; l != "ok calls=220" {
		t.Errorf("serve's result %q, want ok calls=220", l)
	}
}

func TestPingWithoutServerFails(t *testing.T) {
	var out strings.Builder
	code := run([]string{"ping", "--socket", filepath.Join(t.TempDir(), "none.sock"), "--iters", "1"}, nil, &out, io.Discard)
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Scan()
	if code != 1 || !strings.HasPrefix(sc.Text(), "FAIL: ") {
		t.Errorf("ping without a server: exit %d, output %q; want 1 and a FAIL line", code, out.String())
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"serve"},
		{"ping", "--socket", "x", "--size", "4"},
		{"call", "--socket", "x"},
	} {
		if code := run(args, nil, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

func TestCodecCopiesOnUnmarshal(t *testing.T) {
	data := []byte("abcdefgh")
	var f frame
	if err := (bytesCodec{}).Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	data[0] = 'z'
	if string(f.b) != "abcdefgh" {
		t.Errorf("frame aliases the codec's input: %q", f.b)
	}
	if _, err := (bytesCodec{}).Marshal("not a frame"); err == nil {
		t.Error("Marshal accepted a string")
	}
}
