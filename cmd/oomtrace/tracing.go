package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/oomtrace/oomtrace/tracer"
)

// startTracer loads and attaches the tracer, then logs which hooks fell
// back to another mechanism. ctx ends the tracer as tracer.Start says.
func startTracer(ctx context.Context, cfg tracer.Config, verbose bool) (*tracer.Tracer, error) {
	tr, err := tracer.New(cfg)
	if err != nil {
		return nil, loadError(err, verbose)
	}
	if err := tr.Start(ctx); err != nil {
		tr.Close()
		return nil, loadError(err, verbose)
	}
	for _, l := range fallbacks(tr.Hooks()) {
		slog.Info("fallback: " + l)
	}
	return tr, nil
}

// loadError keeps a load error to one line, but for a verifier log, which
// follows that line in full; --verbose prints other multi-line errors whole.
func loadError(err error, verbose bool) error {
	if log, ok := tracer.VerifierLog(err); ok {
		return exitCodeError{code: 1, msg: oneLine(err) + "\n" + log}
	}
	if full := fmt.Sprintf("%+v", err); verbose && strings.Contains(full, "\n") {
		return exitCodeError{code: 1, msg: full}
	}
	return err
}

// fallbacks says, one line per reason, which hooks use a fallback mechanism.
func fallbacks(hooks []tracer.Hook) []string {
	var order []string
	names := map[string][]string{}
	for _, h := range hooks {
		if h.Fallback == "" {
			continue
		}
		key := h.Mechanism + " (" + h.Fallback + ")"
		if _, ok := names[key]; !ok {
			order = append(order, key)
		}
		names[key] = append(names[key], h.Name)
	}
	out := make([]string, len(order))
	for i, key := range order {
		out[i] = strings.Join(names[key], ", ") + " use " + key
	}
	return out
}

// formatStats is the summary line printed on stderr when a command stops:
// per event type, how many were received and how many lost.
func formatStats(s tracer.Stats) string {
	var b strings.Builder
	b.WriteString("oomtrace: events received / lost:")
	for _, t := range tracer.EventTypes() {
		b.WriteString(fmt.Sprintf(" %s=%d/%d", t, s.Received[t], s.Lost(t)))
	}
	if s.Undecoded > 0 {
		b.WriteString(fmt.Sprintf(" undecoded=%d", s.Undecoded))
	}
	b.WriteString("\n")
	return b.String()
}

// belowMinSize says an allocation event came only because its call was
// sampled for its stack: the kernel streams calls of at least --min-size,
// and a sampled call of any size. The recorder keeps only the former.
func belowMinSize(ev *tracer.Event, minSize uint64) bool {
	if ev.Sample == nil || !ev.Type.IsAlloc() {
		return false
	}
	switch ev.Type {
	case tracer.EventBrk, tracer.EventMremap:
		return uint64(max(ev.Alloc.Delta, -ev.Alloc.Delta)) < minSize
	}
	return ev.Alloc.Len < minSize
}
