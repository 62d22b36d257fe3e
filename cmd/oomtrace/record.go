package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/recorder"
	"github.com/oomtrace/oomtrace/internal/remote"
	"github.com/oomtrace/oomtrace/tracer"
	"golang.org/x/sys/unix"
)

func init() {
	register(command{name: "record", summary: "flight recorder: write a timeline dump after every OOM kill", run: cmdRecord})
}

const recordExamples = `  sudo oomtrace record                          # dumps into /var/log/oomtrace
  sudo oomtrace record --out /tmp/oom --warn-at 5m
  sudo kill -USR2 $(pidof oomtrace)               # write a snapshot dump now
`

func cmdRecord(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record", "record [flags]", recordExamples, stdout)
	var f recordFlags
	f.register(fs, "/var/log/oomtrace")
	f.registerDuration(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	s, err := startSession(&f, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	err = s.run(ctx)
	s.finish(stderr)
	return err
}

// session is a running recorder: engine, history, kmsg follower, SIGUSR2.
type session struct {
	f         *recordFlags
	adjBefore []byte // own oom_score_adj before protectSelf; nil if unchanged
	en        *engine
	rec       *recorder.Recorder
	km        *kmsg.Reader
	usr2      chan os.Signal
}

// memoryLimit is the recorder's soft Go memory limit: near it the GC runs
// sooner and returns freed pages, so a burst of events does not leave the
// witness bloated on a machine that is short of memory. RSS also holds some
// 22 MiB that are not Go's (the binary's pages, the BPF rings): at 48 MiB
// the recorder reached 71 MiB under two go builds, at 36 MiB 61 MiB.
const memoryLimit = 36 << 20

// historyBudget bounds the history and a dump built of it (see package
// history): half the soft limit, the other half left to the process table,
// the event pipeline and the dump's encoding.
const historyBudget = memoryLimit / 2

func startSession(f *recordFlags, cfg engineConfig) (*session, error) {
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(memoryLimit)
		if cfg.remote != nil { // the queue has its own bound
			limit += remote.QueueBytes
		}
		debug.SetMemoryLimit(limit)
	}
	// Without BPF privileges the engine fails in one line: say only that.
	if err := tracer.CheckPrivileges(); err != nil {
		return nil, err
	}
	before, err := os.ReadFile("/proc/self/oom_score_adj")
	if err == nil {
		if err = protectSelf(f.oomScoreAdj); err != nil {
			before = nil
			slog.Warn("cannot set own oom_score_adj (lowering it needs CAP_SYS_RESOURCE); the OOM killer may pick the recorder", "want", f.oomScoreAdj, "err", err)
		}
	}
	en, err := startEngine(cfg)
	if err != nil {
		return nil, err
	}
	prepareOut(f.out)
	hist := history.New(history.Config{Fine: f.interval, Window: f.window, Budget: historyBudget})
	rec := recorder.New(recorder.Config{
		OutDir: f.out, Window: f.window, WarnAt: f.warnAt, Host: hostInfo(), Cgroups: en.cfg.Cgroups,
		ServiceOf: func(pid int, comm string) string { return en.agg.ServiceOf(pid, comm).Name },
		CmdlineOf: en.agg.CmdlineOf,
	}, hist)
	s := &session{f: f, adjBefore: before, en: en, rec: rec, usr2: make(chan os.Signal, 1)}
	en.onEv = rec.OnEvent
	if km, err := kmsg.Open("/dev/kmsg", true); err != nil {
		slog.Warn("cannot follow /dev/kmsg: dumps will lack the kernel's constraint and memcgs", "err", err)
	} else {
		s.km = km
		go func() {
			for {
				rep, err := km.Next()
				if err != nil {
					return
				}
				rec.OnReport(rep)
			}
		}()
	}
	signal.Notify(s.usr2, syscall.SIGUSR2)
	go func() {
		for range s.usr2 {
			if paths, err := rec.Snapshot(); err == nil {
				slog.Info("snapshot written", "file", paths[0])
			}
		}
	}()
	if err := f.ready(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) run(ctx context.Context) error {
	return s.en.run(ctx, func(snap aggregate.Snapshot) bool {
		s.rec.OnSnapshot(snap)
		return true
	})
}

// finish writes what is pending and prints the exit summary.
func (s *session) finish(stderr io.Writer) {
	s.rec.Flush()
	kills := s.rec.Kills()
	fmt.Fprintf(stderr, "oomtrace: %d OOM kill(s) recorded, %d file(s) written to %s\n", len(kills), len(s.rec.Dumps()), s.f.out)
	if n := s.rec.Pending(); n > 0 {
		fmt.Fprintf(stderr, "oomtrace: %d dump(s) could not be written to %s\n", n, s.f.out)
	}
	if st, err := s.en.tr.Stats(); err == nil {
		fmt.Fprint(stderr, formatStats(st))
	}
	s.en.stopRemote(stderr)
}

func (s *session) Close() {
	signal.Stop(s.usr2)
	close(s.usr2)
	if s.km != nil {
		s.km.Close()
	}
	s.en.Close()
}

// prepareOut creates the dump directory if it is missing, or warns once that
// dumps cannot be written there yet: the recorder keeps running and each
// dump tries again.
func prepareOut(dir string) {
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = unix.Access(dir, unix.W_OK|unix.X_OK)
	}
	if err != nil {
		slog.Warn("dump directory --out is not writable; dumps will be retried there", "dir", dir, "err", err)
	}
}

// protectSelf sets the process's own oom_score_adj.
func protectSelf(adj int) error {
	return os.WriteFile("/proc/self/oom_score_adj", []byte(fmt.Sprint(adj)), 0)
}

// unprotected runs start with the oom_score_adj the process had before the
// recorder protected itself, so children do not inherit the protection.
func (s *session) unprotected(start func() error) error {
	if s.adjBefore == nil {
		return start()
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", s.adjBefore, 0); err != nil {
		return fmt.Errorf("reset oom_score_adj for the command: %w", err)
	}
	err := start()
	if perr := protectSelf(s.f.oomScoreAdj); perr != nil {
		slog.Warn("cannot restore own oom_score_adj", "err", perr)
	}
	return err
}

func hostInfo() dump.Host {
	h := dump.Host{Oomtrace: versionString()}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}
