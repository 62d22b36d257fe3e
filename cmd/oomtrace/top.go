package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/top"
)

func init() {
	register(command{name: "top", summary: "live view of memory per service: RSS, PSS, growth, leaks, OOM kills", run: cmdTop})
}

const topExamples = `  sudo oomtrace top                          # full-screen view (s: sort, enter: processes, /: filter, q: quit)
  sudo oomtrace top --json -n 3              # three JSON snapshots, one per line
  sudo oomtrace top --batch -d 5s --sort growth
  sudo oomtrace top --service nova=cmdline:nova-api --service web=cgroup:/system.slice/nginx.service
`

func cmdTop(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("top", "top [flags]", topExamples, stdout)
	ef := engineFlags{processes: true}
	jsonOut := fs.Bool("json", false, "print one JSON snapshot per interval")
	batch := fs.Bool("batch", false, "print plain text tables (the default when stdout is not a terminal)")
	iterations := fs.IntP("iterations", "n", 0, "stop after this many intervals (0: until interrupted)")
	sortKey := fs.String("sort", "rss", "sort services by rss, pss, growth, oom or name")
	limit := fs.Int("limit", 0, "print at most this many services in batch mode (0: all)")
	ef.register(fs, time.Second, "512KiB")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	key, err := top.ParseSortKey(*sortKey)
	if err != nil {
		return usagef("--sort: %v", err)
	}
	if *iterations < 0 || *limit < 0 {
		return usagef("--iterations and --limit must not be negative")
	}
	if *jsonOut && *batch {
		return usagef("--json and --batch exclude each other")
	}
	cfg, err := ef.config()
	if err != nil {
		return err
	}
	f, isFile := stdout.(*os.File)
	interactive := !*jsonOut && !*batch && isFile && top.IsTerminal(f)

	en, err := startEngine(cfg)
	if err != nil {
		return err
	}
	defer en.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if interactive {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		snaps := make(chan aggregate.Snapshot, 1)
		errc := make(chan error, 1)
		go func() {
			errc <- en.run(ctx, func(s aggregate.Snapshot) bool {
				select {
				case snaps <- s:
				case <-ctx.Done():
					return false
				}
				return true
			})
		}()
		err := top.Run(ctx, snaps, top.Options{Sort: key, Interval: ef.interval})
		cancel()
		if rerr := <-errc; err == nil {
			err = rerr
		}
		en.stopRemote(stderr)
		return err
	}

	w := bufio.NewWriter(stdout)
	n := 0
	var werr error
	err = en.run(ctx, func(s aggregate.Snapshot) bool {
		if *jsonOut {
			werr = top.WriteJSON(w, s, key)
		} else {
			werr = top.WriteBatch(w, s, key, *limit)
		}
		if werr == nil {
			werr = w.Flush()
		}
		n++
		return werr == nil && (*iterations == 0 || n < *iterations)
	})
	en.stopRemote(stderr)
	if err == nil {
		err = werr
	}
	return err
}
