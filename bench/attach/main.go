// Command attach holds oomtrace's tracer attached, configured by its flags,
// until SIGINT or SIGTERM, and reads its events. bench/run.sh times the
// syscall loops under it to compare tracer configurations of one build
// (stack sampling on and off) without the recorder's own work.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/oomtrace/oomtrace/tracer"
)

func main() {
	stackSample := flag.Uint64("stack-sample", 0, "stack sampling interval in bytes (0: off)")
	stackRing := flag.Uint("stack-ring", 0, "stack samples' ring in bytes (0: the tracer's default)")
	ready := flag.String("ready-file", "", "write this file once attached")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "attach: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if err := run(tracer.Config{StackSample: *stackSample, StackRingBytes: uint32(*stackRing)}, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "attach:", err)
		os.Exit(1)
	}
}

func run(cfg tracer.Config, ready string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, err := tracer.New(cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.Start(ctx); err != nil {
		return err
	}
	if ready != "" {
		if err := os.WriteFile(ready, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			return err
		}
	}
	for ev := range tr.Events() {
		ev.Sample.Release() // as the recorder does once it has resolved a sample
	}
	st, err := tr.Stats()
	if err != nil {
		return err
	}
	fmt.Printf("samples %d received, %d lost\n", st.SamplesReceived, st.SamplesLost)
	return nil
}
