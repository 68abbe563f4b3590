package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/framebridge/framebridge/internal/bench"
)

func init() {
	commands["bench"] = command{
		summary: "measure round trips and throughput between processes, next to sockets and the floor",
		run:     runBench,
	}
}

func runBench(args []string) int {
	if len(args) > 0 && args[0] == "peer" { // the bench's own socket and floor peers
		return bench.RunPeer(args[1:], os.Stdout, os.Stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: framebridge bench [--quick] [--json] [--markdown FILE] [--langs go,cpp,java]\n\n"+
			"Round trips (64 B, 1 KiB, 64 KiB; adaptive and always-sleeping waits) and one-way throughput between\n"+
			"two pinned processes for every pair of languages, with Unix-socket, TCP and floor baselines in the same run.\n"+
			"Progress and notes go to stderr.\n\nflags:")
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "fewer iterations: the whole run takes under a minute")
	asJSON := fs.Bool("json", false, "print one JSON object per row on stdout (and nothing else)")
	md := fs.String("markdown", "", "also write a Markdown report (docs/benchmarks.md) to this `file`")
	langs := fs.String("langs", strings.Join(bench.Languages, ","), "languages to pair; those without a built peer are skipped")
	root := fs.String("root", "", "repository root, where cpp/build and java/target are found (default: found from the working directory)")
	idle := fs.Duration("idle", 0, "how long the idle reader sleeps (default 10s, 2s with --quick; negative: skip)")
	reps := fs.Int("reps", 0, "measure each row this many times and report the medians (default 3, 1 with --quick)")
	scale := fs.Float64("scale", 1, "multiply every iteration count by this")
	only := fs.String("only", "", "comma-separated substrings: measure only rows whose key contains one (e.g. 'framebridge go>go 64B')")
	sizes := fs.String("sizes", "", "comma-separated payload sizes in bytes (default 64,1024,65536)")
	note := fs.String("note", "", "a remark to print at the top of the Markdown report")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cannot find my own executable:", err)
		return 1
	}
	cfg := bench.Config{
		Quick: *quick,
		Exe:   exe,
		Root:  *root,
		Idle:  *idle,
		Scale: *scale,
		Reps:  *reps,
		Log:   os.Stderr,
	}
	if cfg.Root == "" {
		cfg.Root = bench.FindRoot(exe)
	}
	for _, l := range strings.Split(*langs, ",") {
		if l = strings.TrimSpace(l); l != "" {
			cfg.Langs = append(cfg.Langs, l)
		}
	}
	for _, f := range strings.Split(*sizes, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 16 {
			fmt.Fprintf(os.Stderr, "bench: --sizes: %q is not a size of at least 16 bytes\n", f)
			return 2
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *asJSON {
		cfg.Emit = func(r bench.Row) { fmt.Println(r.JSON()) }
	}
	res, err := bench.Run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if !*asJSON {
		bench.WriteTable(os.Stdout, res.Rows)
	}
	ratios := bench.Ratios(res.Rows)
	for _, r := range ratios {
		if r.Value >= 0 {
			fmt.Fprintf(os.Stderr, "bench: target: %s = %.3gx (goal %s, %s): %s\n", r.What, r.Value, r.Target,
				map[bool]string{true: "met", false: "NOT met"}[r.Met], r.Detail)
		}
	}
	if *md != "" {
		var buf bytes.Buffer
		bench.WriteMarkdown(&buf, res, bench.MarkdownInfo{Command: reproduceCommand(args, *md), Note: *note})
		if err := os.WriteFile(*md, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s (%s)\n", *md, time.Since(res.Start).Round(time.Second))
	}
	if len(res.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d measurement(s) failed\n", len(res.Failures))
		return 1
	}
	return 0
}

// reproduceCommand is the command line that repeats this run, without
// machine-specific paths: the binary as `make bench` builds it, and the
// Markdown file relative to the working directory.
func reproduceCommand(args []string, md string) string {
	out := []string{"bin/framebridge", "bench"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--markdown" || a == "-markdown":
			out = append(out, a)
			if i+1 < len(args) {
				i++
				out = append(out, relPath(args[i]))
			}
		case strings.HasPrefix(a, "--markdown=") || strings.HasPrefix(a, "-markdown="):
			k, v, _ := strings.Cut(a, "=")
			out = append(out, k+"="+relPath(v))
		case strings.HasPrefix(a, "--note") || strings.HasPrefix(a, "-note") || strings.HasPrefix(a, "--root") || strings.HasPrefix(a, "-root"):
			if !strings.Contains(a, "=") {
				i++ // skip the value too
			}
		default:
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}

func relPath(p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return filepath.Base(p)
}
