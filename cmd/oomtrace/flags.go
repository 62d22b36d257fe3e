package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/gate"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/metrics"
	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/internal/remote"
	"github.com/oomtrace/oomtrace/internal/service"
	"github.com/oomtrace/oomtrace/internal/units"
	"github.com/oomtrace/oomtrace/tracer"
	"github.com/spf13/pflag"
)

// The flags shared by several commands come in families, one struct each,
// registered by one function and validated by one: a flag has one
// definition and one help text whichever command takes it.

// newFlags makes a subcommand's flag set; --help prints synopsis, flags and
// examples to stdout.
func newFlags(name, synopsis, examples string, stdout io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: oomtrace %s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
		if examples != "" {
			fmt.Fprintf(stdout, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// parse parses flags; a bad flag is a usage error, --help is not an error.
func parse(fs *pflag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}

// durationValue is a duration flag that also takes a bare number of
// seconds ("-d 1"), as top and vmstat do.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := units.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }

// String prints Go's syntax; zero is "0", which --help leaves out as a default.
func (d *durationValue) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

// durationVar registers a durationValue flag; short may be "".
func durationVar(fs *pflag.FlagSet, p *time.Duration, name, short string, def time.Duration, usage string) {
	*p = def
	fs.VarP((*durationValue)(p), name, short, usage)
}

// tracerFlags are the flags of every command that loads the tracer: events,
// top, record and run.
type tracerFlags struct {
	minSize     string
	ringSize    string
	stackSample string
	verbose     bool
}

// register adds the flags; stackSample is --stack-sample's default (events
// leaves stacks off unless asked: its output is the kernel's stream).
func (f *tracerFlags) register(fs *pflag.FlagSet, stackSample string) {
	fs.StringVar(&f.minSize, "min-size", "1MiB", "stream allocations of at least this size (K, M, G suffixes)")
	fs.StringVar(&f.ringSize, "ring-size", "512KiB", "size of the events ring buffer (a power of two, at least 4KiB)")
	fs.StringVar(&f.stackSample, "stack-sample", stackSample, "sample a process's stack each time it grows by about this much (0: no stacks)")
	fs.BoolVar(&f.verbose, "verbose", false, "print multi-line load errors in full (verifier logs always are)")
}

// config validates the flags into the tracer's config.
func (f *tracerFlags) config() (tracer.Config, error) {
	var cfg tracer.Config
	ms, err := units.ParseBytes(f.minSize)
	if err != nil {
		return cfg, usagef("--min-size: %v", err)
	}
	rs, err := units.ParseBytes(f.ringSize)
	if err != nil {
		return cfg, usagef("--ring-size: %v", err)
	}
	if rs < 4096 || rs > 1<<30 || rs&(rs-1) != 0 {
		return cfg, usagef("--ring-size %s: must be a power of two from 4KiB to 1GiB", f.ringSize)
	}
	ss, err := units.ParseBytes(f.stackSample)
	if err != nil {
		return cfg, usagef("--stack-sample: %v", err)
	}
	if ss != 0 && (ss < 4096 || ss > 1<<40) {
		return cfg, usagef("--stack-sample %s: must be 0 (off) or from 4KiB to 1TiB", f.stackSample)
	}
	cfg.StackSample = ss
	cfg.MinSize = max(ms, 1)
	cfg.RingBytes = uint32(rs)
	if rs < 64<<10 {
		cfg.WakeupBytes = rs / 4
	}
	return cfg, nil
}

// scriptFlags let a script wait for the probes and bound a command's run.
// events and record take both; run takes --ready-file only (it ends with
// its command).
type scriptFlags struct {
	readyFile string
	duration  time.Duration
}

func (f *scriptFlags) registerReadyFile(fs *pflag.FlagSet) {
	fs.StringVar(&f.readyFile, "ready-file", "", "write this file once every probe is attached")
}

func (f *scriptFlags) registerDuration(fs *pflag.FlagSet) {
	durationVar(fs, &f.duration, "duration", "", 0, "stop after this long (default: until interrupted)")
}

func (f *scriptFlags) validate() error {
	if f.duration < 0 {
		return usagef("invalid --duration %s", f.duration)
	}
	return nil
}

// ready writes the --ready-file, if any: the process id and a newline.
func (f *scriptFlags) ready() error {
	if f.readyFile == "" {
		return nil
	}
	if err := os.WriteFile(f.readyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("write --ready-file: %w", err)
	}
	return nil
}

// engineFlags are the flags of every command that samples services: top,
// record and run.
type engineFlags struct {
	tracerFlags
	interval    time.Duration
	rules       []string
	rulesFile   string
	pssInterval time.Duration
	leakWindow  time.Duration
	metricsAddr string
	redactAll   bool
	cpuProfile  string
	processes   bool // per-process figures in snapshots (top's drill-down)
	remoteWriteFlags
}

// stackSample is --stack-sample's default: top, record and run sample
// stacks; events only when asked (each sample is one more event printed).
func (e *engineFlags) register(fs *pflag.FlagSet, interval time.Duration, stackSample string) {
	durationVar(fs, &e.interval, "interval", "d", interval, "sampling interval (a bare number is seconds, as in every duration flag: -d 1, -d 500ms)")
	fs.StringArrayVar(&e.rules, "service", nil, "service rule NAME=MATCH, MATCH one of comm:REGEX, cmdline:REGEX, exe:GLOB, cgroup:GLOB (repeatable)")
	fs.StringVar(&e.rulesFile, "services", "", "file of service rules, one NAME=MATCH a line, # comments")
	durationVar(fs, &e.pssInterval, "pss-interval", "", 10*time.Second, "re-read a process's PSS (smaps_rollup) at most this often, once its RSS moved (and every 30 intervals regardless)")
	durationVar(fs, &e.leakWindow, "leak-window", "", 5*time.Minute, "window over which steady growth flags a leak suspect")
	e.tracerFlags.register(fs, stackSample)
	fs.StringVar(&e.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on HOST:PORT (\":9479\" binds to 127.0.0.1)")
	fs.BoolVar(&e.redactAll, "redact-cmdline", false, "mask every argument of command lines in output and dumps (secrets such as --password=... are always masked)")
	fs.StringVar(&e.cpuProfile, "cpu-profile", "", "write a Go CPU profile of oomtrace itself to `FILE` (read it with go tool pprof)")
	e.remoteWriteFlags.register(fs)
}

// engineConfig is what startEngine needs, validated. A command builds it
// once: building it reads the rules files and detects the cgroup hierarchy.
type engineConfig struct {
	tracer      tracer.Config
	agg         aggregate.Config
	metricsAddr string         // HOST:PORT; "" without --metrics-addr
	remote      *remote.Config // nil without --remote-write
	cpuProfile  string
	verbose     bool
}

// config validates the flags into tracer and aggregator configs.
func (e *engineFlags) config() (engineConfig, error) {
	tcfg, err := e.tracerFlags.config()
	if err != nil {
		return engineConfig{}, err
	}
	if e.interval < 10*time.Millisecond || e.interval > time.Hour {
		return engineConfig{}, usagef("--interval %s: must be between 10ms and 1h", e.interval)
	}
	if e.pssInterval < 0 {
		return engineConfig{}, usagef("--pss-interval %s: must not be negative", e.pssInterval)
	}
	if e.leakWindow < 2*e.interval {
		return engineConfig{}, usagef("--leak-window %s: must be at least two intervals", e.leakWindow)
	}
	if e.leakWindow > 15*time.Minute { // the RSS history a service keeps
		return engineConfig{}, usagef("--leak-window %s: at most 15m", e.leakWindow)
	}
	var addr string
	if e.metricsAddr != "" {
		if addr, err = metrics.ParseAddr(e.metricsAddr); err != nil {
			return engineConfig{}, usagef("--metrics-addr: %v", err)
		}
	}
	rw, err := e.remoteWriteFlags.config(e.interval)
	if err != nil {
		return engineConfig{}, err
	}
	rules, err := loadRules(e.rules, e.rulesFile)
	if err != nil {
		return engineConfig{}, err
	}
	acfg := aggregate.Config{Interval: e.interval, PSSInterval: e.pssInterval, LeakWindow: e.leakWindow, Rules: rules, WithProcesses: e.processes, RedactAll: e.redactAll,
		Launchers: []int{os.Getpid()}} // run starts its command
	if acfg.PSSInterval == 0 {
		acfg.PSSInterval = -1 // every tick
	}
	if h, err := cgroup.Detect(); err == nil {
		acfg.Cgroups = &h
	}
	if tcfg.StackSample > 0 {
		acfg.Stacks = native.NewResolver(stackLimits)
	}
	return engineConfig{tracer: tcfg, agg: acfg, metricsAddr: addr, remote: rw, cpuProfile: e.cpuProfile, verbose: e.verbose}, nil
}

// remoteWriteFlags push the series of /metrics to a Prometheus remote-write
// receiver: top, record and run.
type remoteWriteFlags struct {
	url       string
	headers   []string
	tokenFile string
}

func (f *remoteWriteFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "remote-write", "", "push the series of /metrics every interval to this Prometheus remote-write `URL` (https: TLS with the system's roots)")
	fs.StringArrayVar(&f.headers, "remote-write-header", nil, "add the header `NAME=VALUE` to every remote-write request (repeatable)")
	fs.StringVar(&f.tokenFile, "remote-write-token-file", "", "send the bearer token in `FILE` with every remote-write request (re-read each time)")
}

// config validates the flags; nil without --remote-write.
func (f *remoteWriteFlags) config(interval time.Duration) (*remote.Config, error) {
	if f.url == "" {
		if len(f.headers) > 0 || f.tokenFile != "" {
			return nil, usagef("--remote-write-header and --remote-write-token-file need --remote-write")
		}
		return nil, nil
	}
	u, err := remote.ParseURL(f.url)
	if err != nil {
		return nil, usagef("--remote-write %v", err)
	}
	cfg := &remote.Config{URL: u, Headers: http.Header{}, TokenFile: f.tokenFile, Interval: interval,
		UserAgent: "oomtrace/" + versionString()}
	for _, h := range f.headers {
		k, v, err := remote.ParseHeader(h)
		if err != nil {
			return nil, usagef("--remote-write-header %v", err)
		}
		if k == "Authorization" && f.tokenFile != "" {
			return nil, usagef("--remote-write-header Authorization and --remote-write-token-file exclude each other")
		}
		cfg.Headers.Add(k, v)
	}
	if f.tokenFile != "" {
		if _, err := remote.ReadToken(f.tokenFile); err != nil {
			return nil, usagef("--remote-write-token-file: %v", err)
		}
	}
	host, _ := os.Hostname()
	cfg.Labels = []remote.Label{{Name: "job", Value: "oomtrace"}, {Name: "instance", Value: host}}
	return cfg, nil
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

// stackLimits bound the stack resolver's caches within the recorder's
// memory (README, "Growth stacks"): its defaults are sized for a tool run
// once, not for a recorder under a 36 MiB limit.
var stackLimits = native.Limits{
	Files: 16,
	// Go toolchain binaries cost ~2 MiB each parsed, bigger Go programs
	// more: 16 of them alone would pass the recorder's limit.
	FileCacheBytes: 8 << 20,
	SymbolsPerFile: 65536,  // ~5.5 MiB with names: a capped file still fits
	FDEsPerFile:    131072, // 2 MiB of index
	Procs:          256,
	DebugFiles:     -1, // file:line costs ~20 MiB for glibc's debug file alone
	FileBytes:      8 << 20,
	Frames:         aggregate.StackFrames + 1, // one more than kept: the cut is seen
}

// recordFlags are the flags of the recorder: record and run.
type recordFlags struct {
	engineFlags
	scriptFlags
	out         string
	window      time.Duration
	warnAt      time.Duration
	oomScoreAdj int
}

func (f *recordFlags) register(fs *pflag.FlagSet, out string) {
	fs.StringVar(&f.out, "out", out, "directory for the dumps")
	durationVar(fs, &f.window, "window", "", 10*time.Minute, "history in each dump, at the sampling interval (older history is kept at 10s for 2h)")
	durationVar(fs, &f.warnAt, "warn-at", "", 0, "write a warn dump when an OOM kill is estimated to come within this time (0: off)")
	fs.IntVar(&f.oomScoreAdj, "oom-score-adj", -1000, "the recorder's own oom_score_adj, so the OOM killer spares the witness")
	f.scriptFlags.registerReadyFile(fs)
	f.engineFlags.register(fs, time.Second, "512KiB")
}

// config validates the recorder's flags, then the engine's, into the
// engine's config.
func (f *recordFlags) config() (engineConfig, error) {
	if f.out == "" {
		return engineConfig{}, usagef("--out must not be empty")
	}
	if f.window < 10*f.interval || f.window > 24*time.Hour {
		return engineConfig{}, usagef("--window %s: must be between 10 intervals and 24h", f.window)
	}
	if f.interval > 0 && f.window/f.interval > history.MaxSamples {
		n := f.window / f.interval
		return engineConfig{}, usagef("--window %s at --interval %s is %d samples a service: at most %d (lengthen --interval or shorten --window)", f.window, f.interval, n, history.MaxSamples)
	}
	if st, err := os.Stat(f.out); err == nil && !st.IsDir() {
		return engineConfig{}, usagef("--out %s: not a directory", f.out)
	}
	if f.warnAt < 0 {
		return engineConfig{}, usagef("--warn-at %s: must not be negative", f.warnAt)
	}
	if f.oomScoreAdj < -1000 || f.oomScoreAdj > 1000 {
		return engineConfig{}, usagef("--oom-score-adj %d: must be between -1000 and 1000", f.oomScoreAdj)
	}
	cfg, err := f.engineFlags.config()
	if err != nil {
		return engineConfig{}, err
	}
	if err := f.scriptFlags.validate(); err != nil {
		return engineConfig{}, err
	}
	cfg.agg.StackWindow = f.window // a stack's grown bytes: over a dump's window
	return cfg, nil
}

// gateFlags judge a run by its services' peak PSS: budgets, and a baseline
// (an earlier run's summary). run takes them.
type gateFlags struct {
	budgets       []string
	budgetsFile   string
	baseline      string
	maxRegression float64
}

func (f *gateFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.budgets, "budget", nil, fmt.Sprintf("budget SERVICE=SIZE (e.g. web=800MiB): exit %d if the service's peak PSS exceeds it (repeatable)", exitGate))
	fs.StringVar(&f.budgetsFile, "budgets", "", "file of budgets, one SERVICE=SIZE a line, # comments")
	fs.StringVar(&f.baseline, "baseline", "", "an earlier run's summary.json: compare peak PSS, end PSS and growth per service with it")
	fs.Float64Var(&f.maxRegression, "max-regression", 0, fmt.Sprintf("with --baseline: exit %d if a service's peak PSS grew by more than `PCT` percent (and more than %s)", exitGate, units.Bytes(gate.RegressionFloor)))
}

// gateConfig is the gate, validated: the budgets, and the baseline read.
type gateConfig struct {
	budgets  []gate.Budget
	baseline *dump.Dump
	basePath string
	maxPct   float64 // negative: no --max-regression
}

func (f *gateFlags) config(fs *pflag.FlagSet) (gateConfig, error) {
	var g gateConfig
	if f.budgetsFile != "" {
		fh, err := os.Open(f.budgetsFile)
		if err != nil {
			return g, usagef("--budgets: %v", err)
		}
		defer fh.Close()
		if g.budgets, err = gate.ParseBudgets(fh, f.budgetsFile); err != nil {
			return g, usagef("--budgets: %v", err)
		}
	}
	for _, s := range f.budgets {
		b, err := gate.ParseBudget(s)
		if err != nil {
			return g, usagef("--budget: %v", err)
		}
		g.budgets = append(g.budgets, b)
	}
	if err := gate.Unique(g.budgets); err != nil {
		return g, usagef("--budget: %v", err)
	}
	g.maxPct = -1
	if fs.Changed("max-regression") {
		if f.baseline == "" {
			return g, usagef("--max-regression needs --baseline")
		}
		if !(f.maxRegression >= 0) || math.IsInf(f.maxRegression, 0) { // NaN too
			return g, usagef("--max-regression %v: must be a percentage, 0 or more", f.maxRegression)
		}
		g.maxPct = f.maxRegression
	}
	if f.baseline != "" {
		d, err := gate.ReadSummary(f.baseline)
		if err != nil {
			return g, usagef("--baseline: %v", err)
		}
		g.baseline, g.basePath = d, f.baseline
	}
	return g, nil
}

// judge adds the budgets and the comparison to a run's summary and returns
// what failed, one line each.
func (g *gateConfig) judge(d *dump.Dump) []string {
	var failed []string
	if len(g.budgets) > 0 {
		d.Run.Budgets = gate.Check(d, g.budgets)
		failed = append(failed, gate.Failed(d.Run.Budgets)...)
	}
	if g.baseline != nil {
		c := gate.Compare(g.baseline, d, g.maxPct)
		c.AFile = g.basePath
		d.Run.Baseline = c
		failed = append(failed, gate.Regressions(c)...)
	}
	return failed
}
