package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/internal/python"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/internal/units"
	"github.com/oomtrace/oomtrace/tracer"
)

func init() {
	register(command{name: "events", summary: "stream allocation, process and OOM kill events", run: cmdEvents})
}

const eventsExamples = `  sudo oomtrace events                      # large allocations, processes, OOM kills
  sudo oomtrace events --json --min-size 4M # JSON lines for logstash/ELK
  sudo oomtrace events --pid 1234 --duration 30s
  sudo oomtrace events --json --stack-sample 512K   # also calls sampled for their stack, with it
`

func cmdEvents(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("events", "events [flags]", eventsExamples, stdout)
	jsonOut := fs.Bool("json", false, "print one JSON object per line")
	pid := fs.Int("pid", 0, "only show events of this process id")
	var tf tracerFlags
	tf.register(fs, "0")
	var sf scriptFlags
	sf.registerReadyFile(fs)
	sf.registerDuration(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := tf.config()
	if err != nil {
		return err
	}
	if *pid < 0 || *pid > 1<<22 { // PID_MAX_LIMIT
		return usagef("invalid --pid %d", *pid)
	}
	if err := sf.validate(); err != nil {
		return err
	}

	// Signals are caught from before the ready file is written, so a script
	// that signals as soon as it appears still gets the summary. A signal,
	// or --duration, ends Start's context: the tracer detaches, hands on
	// what its rings still hold and closes its Events channel; the counts
	// are then final, each event generated received or lost.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr, err := startTracer(ctx, cfg, tf.verbose)
	if err != nil {
		return err
	}
	defer tr.Close()
	var py *python.Reader // Python frames of the stacks, read by BPF from the start
	if *jsonOut && cfg.StackSample > 0 {
		py = python.NewReader(tr)
		tr.OnExec(py.Exec)
		py.ScanRunning()
	}
	if err := sf.ready(); err != nil {
		return err
	}

	if sf.duration > 0 {
		defer time.AfterFunc(sf.duration, cancel).Stop()
	}

	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	var stacks *native.Resolver // sampled calls' stacks, in JSON
	if *jsonOut && cfg.StackSample > 0 {
		stacks = native.NewResolver(stackLimits)
	}
	print := func(ev *tracer.Event) error {
		if stacks != nil && (ev.Type == tracer.EventExit || ev.Type == tracer.EventExec) {
			defer stacks.Forget(ev.PID) // its address space is gone
			if ev.Type == tracer.EventExit {
				defer py.Forget(ev.PID) // execs: tr.OnExec
			}
		}
		if *pid != 0 && ev.PID != uint32(*pid) && (ev.OOM == nil || ev.OOM.Trigger.PID != uint32(*pid)) {
			return nil
		}
		if *jsonOut {
			out := schema.FromEvent(ev)
			if s := ev.Sample; s != nil && stacks != nil {
				ns := stacks.Resolve(ev.PID, ev.Start, native.Regs{IP: s.Regs.IP, SP: s.Regs.SP, BP: s.Regs.BP}, s.Stack, s.FramePointers)
				frames, truncated := aggregate.FramesOf(py.Merge(ev.PID, ns, s.Python))
				out.WithStack(ev, frames, truncated)
			}
			return enc.Encode(out)
		}
		_, err := fmt.Fprintln(w, formatEvent(ev))
		return err
	}
	events := tr.Events()
	for open := true; open; {
		select {
		case ev, ok := <-events:
			if open = ok; !ok {
				break
			}
			err := print(&ev)
			ev.Sample.Release() // resolved and printed, or filtered out
			if err != nil {
				return err
			}
			if ev.Type == tracer.EventOOMKill {
				w.Flush()
			}
		case <-flush.C:
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	stats, err := tr.Stats()
	if err != nil {
		return err
	}
	fmt.Fprint(stderr, formatStats(stats))
	return nil
}

func formatEvent(ev *tracer.Event) string {
	ts := ev.Time.UTC().Format("15:04:05.000000")
	head := fmt.Sprintf("%s %-8s pid=%-7d comm=%-16s", ts, ev.Type, ev.PID, safe.Text(ev.Comm))
	switch {
	case ev.Type.IsAlloc():
		a := ev.Alloc
		s := fmt.Sprintf("%s len=%s delta=%s addr=%#x", head, units.Bytes(a.Len), units.SignedBytes(a.Delta), a.Addr)
		if ev.Type == tracer.EventMmap || ev.Type == tracer.EventMprotect {
			s += " prot=" + protString(a.Prot)
		}
		if ev.Type == tracer.EventMmap {
			s += " " + mapKind(a.Flags)
		}
		return s
	case ev.Type == tracer.EventFork:
		return fmt.Sprintf("%s ppid=%d", head, ev.Proc.PPID)
	case ev.Type == tracer.EventExec:
		return fmt.Sprintf("%s ppid=%d file=%s", head, ev.Proc.PPID, safe.Text(ev.Proc.Filename))
	case ev.Type == tracer.EventExit:
		return fmt.Sprintf("%s ppid=%d status=%s", head, ev.Proc.PPID, exitString(ev.Proc.ExitCode))
	case ev.OOM != nil:
		k := ev.OOM
		return fmt.Sprintf("%s OOM KILL victim=%d(%s) trigger=%d(%s) memcg=%s anon-rss=%s file-rss=%s shmem-rss=%s total-vm=%s pgtables=%s oom_score_adj=%d uid=%d via=%s",
			ts, k.Victim.PID, safe.Text(k.Victim.Comm), k.Trigger.PID, safe.Text(k.Trigger.Comm), safe.Text(k.MemcgPath),
			units.Bytes(k.AnonRSSBytes), units.Bytes(k.FileRSSBytes), units.Bytes(k.ShmemRSSBytes),
			units.Bytes(k.TotalVMBytes), units.Bytes(k.PgTablesBytes), k.OOMScoreAdj, k.UID, k.Source)
	}
	return head
}

func protString(p uint32) string {
	b := []byte("---")
	for i, c := range "rwx" {
		if p&(1<<i) != 0 {
			b[i] = byte(c)
		}
	}
	return string(b)
}

func mapKind(flags uint32) string {
	kind := "file"
	if flags&syscall.MAP_ANONYMOUS != 0 {
		kind = "anon"
	}
	if flags&syscall.MAP_SHARED != 0 {
		return kind + ",shared"
	}
	return kind + ",private"
}

func exitString(status uint32) string {
	ws := syscall.WaitStatus(status)
	switch {
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	}
	return fmt.Sprintf("%#x", status)
}
