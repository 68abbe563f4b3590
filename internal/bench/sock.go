package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Socket baselines: a Go echo server and a Go client in two processes,
// exchanging fixed-size messages over a Unix stream socket ("unix") or TCP
// loopback ("tcp"; Go sets TCP_NODELAY). Both sides block in the kernel
// (through Go's netpoller), which is what a socket user gets.

func sockServer(network, addr string, size int) (string, error) {
	if network != "unix" && network != "tcp" {
		return "", usageErr("--net must be unix or tcp")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return "", err
	}
	say("ready " + ln.Addr().String())
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, size)
	n := 0
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Sprintf("ok frames=%d", n), nil
			}
			return "", fmt.Errorf("after %d messages: %w", n, err)
		}
		if _, err := c.Write(buf); err != nil {
			return "", fmt.Errorf("after %d messages: %w", n, err)
		}
		n++
	}
}

func sockClient(network, addr string, size, iters, warmup int) (string, error) {
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	say("ready")
	out, in := make([]byte, size), make([]byte, size)
	samples := make([]int64, iters)
	for i := -warmup; i < iters; i++ {
		start := time.Now()
		out[0] = byte(i)
		if _, err := c.Write(out); err != nil {
			return "", err
		}
		if _, err := io.ReadFull(c, in); err != nil {
			return "", err
		}
		if i >= 0 {
			samples[i] = int64(time.Since(start))
		}
		if in[0] != byte(i) {
			return "", fmt.Errorf("round trip %d: echo carries %d", i, in[0])
		}
	}
	p50, p99 := Summarize(samples)
	return fmt.Sprintf("ok p50_ns=%d p99_ns=%d iters=%d", p50, p99, iters), nil
}
