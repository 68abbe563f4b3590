package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/framebridge/framebridge/shm"
)

func init() {
	commands["stat"] = command{summary: "show a named segment's header, rings, counters and attached processes", run: runStat}
}

func runStat(args []string) int {
	fs := flag.NewFlagSet("stat", flag.ContinueOnError)
	watch := fs.Duration("watch", 0, "refresh every interval (e.g. 1s) until interrupted")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: framebridge stat [--watch 1s] NAME   (a segment under /dev/shm)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	seg, err := shm.Attach(fs.Arg(0), shm.AttachOptions{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebridge stat:", err)
		return 1
	}
	defer seg.Close()
	for {
		if err := printStat(os.Stdout, seg); err != nil {
			fmt.Fprintln(os.Stderr, "framebridge stat:", err)
			return 1
		}
		if *watch <= 0 {
			return 0
		}
		time.Sleep(*watch)
		fmt.Println()
	}
}

func printStat(out io.Writer, seg *shm.Segment) error {
	h := seg.Header()
	creator := "alive"
	if !h.CreatorLive {
		creator = "gone"
	}
	fmt.Fprintf(out, "segment %s  layout v%d  size %d  generation %d  creator pid %d (%s)  created %s\n",
		seg.Name(), h.Version, h.Size, h.Generation, h.CreatorPID, creator, h.CreatedAt.Format(time.RFC3339))
	rings, boxes, err := seg.Stats()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, r := range rings {
		fmt.Fprintf(tw, "\nring %s\t%s\tcapacity %d\n", r.Name, r.Kind, r.Capacity)
		fmt.Fprintf(tw, "  head\t%d\ttail\t%d\tlag\t%d bytes\n", r.Head, r.Tail, r.Lag())
		fmt.Fprintf(tw, "  frames written\t%d\tbytes written\t%d\n", r.FramesWritten, r.BytesWritten)
		fmt.Fprintf(tw, "  frames read\t%d\tbytes read\t%d\n", r.FramesRead, r.BytesRead)
		fmt.Fprintf(tw, "  full stalls\t%d\twriter waits\t%d\twriter wakes\t%d\n", r.FullStalls, r.WriterWaits, r.WriterWakes)
		fmt.Fprintf(tw, "  reader waits\t%d\treader wakes\t%d\n", r.ReaderWaits, r.ReaderWakes)
		fmt.Fprintf(tw, "  bad records\t%d\tabandoned claims\t%d\n", r.BadRecords, r.AbandonedRecords)
		fmt.Fprintf(tw, "  sleeping now\t%d reader, %d writers\n", r.DataWaiters, r.SpaceWaiters)
		printAttached(tw, r.Attached)
	}
	for _, m := range boxes {
		fmt.Fprintf(tw, "\nmailbox %s\tcapacity %d\tversion %d\tstoring %v\twaiters %d\n", m.Name, m.Capacity, m.Version, m.Storing, m.Waiters)
		printAttached(tw, m.Attached)
	}
	return tw.Flush()
}

func printAttached(tw io.Writer, as []shm.Attachment) {
	if len(as) == 0 {
		fmt.Fprintf(tw, "  attached\tnobody\n")
	}
	for _, a := range as {
		state := "alive"
		if !a.Alive {
			state = "dead"
		}
		fmt.Fprintf(tw, "  %s %d\tpid %d\t%s\tepoch %d\n", a.Role, a.Slot, a.PID, state, a.Epoch)
	}
}
