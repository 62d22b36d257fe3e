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
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/metrics"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/service"
	"github.com/oomtrace/oomtrace/tracer"
	"github.com/spf13/pflag"
)

// engineFlags are the flags of every command that samples services.
type engineFlags struct {
	interval    time.Duration
	minSize     string
	ringSize    string
	rules       []string
	rulesFile   string
	pssInterval time.Duration
	leakWindow  time.Duration
	metricsAddr string
	redactAll   bool
	verbose     bool
	cpuProfile  string
	processes   bool // per-process figures in snapshots (top's drill-down)
}

func (e *engineFlags) register(fs *pflag.FlagSet, interval time.Duration) {
	fs.DurationVarP(&e.interval, "interval", "d", interval, "sampling interval")
	fs.StringArrayVar(&e.rules, "service", nil, "service rule NAME=MATCH, MATCH one of comm:REGEX, cmdline:REGEX, exe:GLOB, cgroup:GLOB (repeatable)")
	fs.StringVar(&e.rulesFile, "services", "", "file of service rules, one NAME=MATCH a line, # comments")
	fs.DurationVar(&e.pssInterval, "pss-interval", 10*time.Second, "re-read a process's PSS (smaps_rollup) at most this often, once its RSS moved (and every 30 intervals regardless)")
	fs.DurationVar(&e.leakWindow, "leak-window", 5*time.Minute, "window over which steady growth flags a leak suspect")
	fs.StringVar(&e.minSize, "min-size", "1MiB", "stream allocations of at least this size")
	fs.StringVar(&e.ringSize, "ring-size", "512KiB", "size of the events ring buffer")
	fs.StringVar(&e.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on HOST:PORT (\":9479\" binds to 127.0.0.1)")
	fs.BoolVar(&e.redactAll, "redact-cmdline", false, "mask every argument of command lines in output and dumps (secrets such as --password=... are always masked)")
	fs.BoolVar(&e.verbose, "verbose", false, "print multi-line load errors in full (verifier logs always are)")
	fs.StringVar(&e.cpuProfile, "cpu-profile", "", "write a Go CPU profile of oomtrace itself to `FILE` (read it with go tool pprof)")
}

// config validates the flags into tracer and aggregator configs.
func (e *engineFlags) config() (tracer.Config, aggregate.Config, error) {
	tcfg, err := tracerConfig(e.minSize, e.ringSize)
	if err != nil {
		return tcfg, aggregate.Config{}, err
	}
	if e.interval < 10*time.Millisecond || e.interval > time.Hour {
		return tcfg, aggregate.Config{}, usagef("--interval %s: must be between 10ms and 1h", e.interval)
	}
	if e.pssInterval < 0 {
		return tcfg, aggregate.Config{}, usagef("--pss-interval %s: must not be negative", e.pssInterval)
	}
	if e.leakWindow < 2*e.interval {
		return tcfg, aggregate.Config{}, usagef("--leak-window %s: must be at least two intervals", e.leakWindow)
	}
	if e.leakWindow > 15*time.Minute { // the RSS history a service keeps
		return tcfg, aggregate.Config{}, usagef("--leak-window %s: at most 15m", e.leakWindow)
	}
	if e.metricsAddr != "" {
		addr, err := metrics.ParseAddr(e.metricsAddr)
		if err != nil {
			return tcfg, aggregate.Config{}, usagef("--metrics-addr: %v", err)
		}
		e.metricsAddr = addr
	}
	rules, err := loadRules(e.rules, e.rulesFile)
	if err != nil {
		return tcfg, aggregate.Config{}, err
	}
	acfg := aggregate.Config{Interval: e.interval, PSSInterval: e.pssInterval, LeakWindow: e.leakWindow, Rules: rules, WithProcesses: e.processes, RedactAll: e.redactAll}
	if acfg.PSSInterval == 0 {
		acfg.PSSInterval = -1 // every tick
	}
	if h, err := cgroup.Detect(); err == nil {
		acfg.Cgroups = &h
	}
	return tcfg, acfg, nil
}

func loadRules(flags []string, file string) ([]service.Rule, error) {
	var rules []service.Rule
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, usagef("--services: %v", err)
		}
		defer f.Close()
		rs, err := service.ParseRules(f, file)
		if err != nil {
			return nil, usagef("--services: %v", err)
		}
		rules = append(rules, rs...)
	}
	for _, s := range flags {
		r, err := service.ParseRule(s)
		if err != nil {
			return nil, usagef("--service: %v", err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// engine runs the tracer and the aggregator and calls back on one goroutine.
type engine struct {
	tr      *tracer.Tracer
	agg     *aggregate.Aggregator
	cfg     aggregate.Config
	onEv    func(*tracer.Event)
	metrics *metrics.Exporter // nil without --metrics-addr
	addr    string
	prof    *os.File // --cpu-profile
}

func startEngine(e *engineFlags, stderr io.Writer) (*engine, error) {
	tcfg, acfg, err := e.config()
	if err != nil {
		return nil, err
	}
	tr, err := tracer.New(tcfg)
	if err != nil {
		return nil, loadError(err, e.verbose)
	}
	if err := tr.Start(context.Background()); err != nil {
		tr.Close()
		return nil, loadError(err, e.verbose)
	}
	for _, l := range fallbacks(tr.Hooks()) {
		slog.Info("fallback: " + l)
	}
	pr, err := proc.NewReader("/proc")
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	en := &engine{tr: tr, agg: aggregate.New(acfg, pr, tr), cfg: acfg, addr: e.metricsAddr}
	if e.metricsAddr != "" {
		en.metrics = metrics.New()
	}
	if e.cpuProfile != "" {
		if en.prof, err = startProfile(e.cpuProfile); err != nil {
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
	if en.metrics != nil {
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
			if en.onEv != nil {
				en.onEv(&ev)
			}
		case now := <-tick.C:
			if ok, err := sample(now); !ok || err != nil {
				return err
			}
		}
	}
}

func (en *engine) Close() error {
	if en.prof != nil {
		pprof.StopCPUProfile()
		en.prof.Close()
		en.prof = nil
	}
	return en.tr.Close()
}
