package main

import (
	"fmt"
	"strings"

	"github.com/oomtrace/oomtrace/internal/units"
	"github.com/oomtrace/oomtrace/tracer"
)

// tracerConfig validates the flags shared by every tracing command.
func tracerConfig(minSize, ringSize string) (tracer.Config, error) {
	var cfg tracer.Config
	ms, err := units.ParseBytes(minSize)
	if err != nil {
		return cfg, usagef("--min-size: %v", err)
	}
	rs, err := units.ParseBytes(ringSize)
	if err != nil {
		return cfg, usagef("--ring-size: %v", err)
	}
	if rs < 4096 || rs > 1<<30 || rs&(rs-1) != 0 {
		return cfg, usagef("--ring-size %s: must be a power of two from 4KiB to 1GiB", ringSize)
	}
	cfg.MinSize = max(ms, 1)
	cfg.RingBytes = uint32(rs)
	if rs < 64<<10 {
		cfg.WakeupBytes = rs / 4
	}
	return cfg, nil
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
