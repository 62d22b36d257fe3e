package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/metrics"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/python"
	"github.com/oomtrace/oomtrace/internal/remote"
	"github.com/oomtrace/oomtrace/tracer"
)

// engine runs the tracer and the aggregator and calls back on one goroutine.
type engine struct {
	tr      *tracer.Tracer
	agg     *aggregate.Aggregator
	cfg     aggregate.Config
	onEv    func(*tracer.Event) // events of at least --min-size, as before stacks
	minSize uint64
	metrics *metrics.Exporter // nil without --metrics-addr and --remote-write
	addr    string            // --metrics-addr; "" for none
	remote  *remote.Writer    // nil without --remote-write
	prof    *os.File          // --cpu-profile
}

func startEngine(cfg engineConfig) (*engine, error) {
	tr, err := startTracer(context.Background(), cfg.tracer, cfg.verbose)
	if err != nil {
		return nil, err
	}
	pr, err := proc.NewReader("/proc")
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	if cfg.agg.Stacks != nil {
		py := python.NewReader(tr)
		tr.OnExec(py.Exec)
		py.ScanRunning()
		cfg.agg.Python = py
	}
	en := &engine{tr: tr, agg: aggregate.New(cfg.agg, pr, tr), cfg: cfg.agg, addr: cfg.metricsAddr, minSize: cfg.tracer.MinSize}
	if cfg.metricsAddr != "" || cfg.remote != nil {
		en.metrics = metrics.New()
	}
	if cfg.remote != nil {
		w, err := remote.New(*cfg.remote, en.metrics.Gatherer())
		if err == nil {
			err = en.metrics.Register(w.Collectors()...)
		}
		if err != nil {
			tr.Close()
			return nil, err
		}
		en.remote = w
	}
	if cfg.cpuProfile != "" {
		if en.prof, err = startProfile(cfg.cpuProfile); err != nil {
			tr.Close()
			return nil, err
		}
	}
	return en, nil
}

func startProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return f, nil
}

// run ticks until ctx ends or onSnap returns false. The first tick is at once.
func (en *engine) run(ctx context.Context, onSnap func(aggregate.Snapshot) bool) error {
	hooks := map[string]string{}
	for _, h := range en.tr.Hooks() {
		hooks[h.Name] = h.Mechanism
	}
	if en.addr != "" {
		addr, err := metrics.Serve(ctx, en.addr, en.metrics)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		slog.Info("serving metrics", "url", "http://"+addr.String()+"/metrics")
	}
	tick := time.NewTicker(en.cfg.Interval)
	defer tick.Stop()
	events := en.tr.Events()
	sample := func(now time.Time) (bool, error) {
		snap, err := en.agg.Tick(now)
		if err != nil {
			return false, err
		}
		snap.System.Hooks = hooks
		if en.metrics != nil {
			if st, err := en.tr.Stats(); err == nil {
				en.metrics.Update(snap, st)
				if en.remote != nil {
					if err := en.remote.Push(now); err != nil {
						slog.Warn("remote write: cannot gather the metrics", "err", err)
					}
				}
			}
		}
		return onSnap(snap), nil
	}
	if ok, err := sample(time.Now()); !ok || err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			en.agg.HandleEvent(&ev)
			if en.onEv != nil && !belowMinSize(&ev, en.minSize) {
				en.onEv(&ev)
			}
		case now := <-tick.C:
			if ok, err := sample(now); !ok || err != nil {
				return err
			}
		}
	}
}

// stopRemote flushes the remote-write queue (within remote.FlushTimeout)
// and says on stderr what was sent and what was dropped, and why.
func (en *engine) stopRemote(stderr io.Writer) {
	if en.remote == nil {
		return
	}
	st := en.remote.Close()
	fmt.Fprintf(stderr, "oomtrace: remote write: %d samples sent, %d dropped (%d rejected, %d evicted from the full queue, %d unsent at exit)\n",
		st.Sent, st.Dropped(), st.Rejected, st.Evicted, st.Unsent)
}

func (en *engine) Close() error {
	if en.remote != nil {
		en.remote.Close() // idempotent: a no-op after stopRemote
	}
	if en.prof != nil {
		pprof.StopCPUProfile()
		en.prof.Close()
		en.prof = nil
	}
	return en.tr.Close()
}
