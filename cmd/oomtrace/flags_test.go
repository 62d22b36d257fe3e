package main

import (
	"io"
	"testing"
	"time"
)

// Every duration flag takes a bare number of seconds as well as Go's syntax.
func TestDurationFlags(t *testing.T) {
	fs := newFlags("record", "record", "", io.Discard)
	var f recordFlags
	f.register(fs, "out")
	f.registerDuration(fs)
	args := []string{"-d", "0.25", "--window", "600", "--warn-at", "90", "--pss-interval", "0", "--leak-window", "2m", "--duration", "3"}
	if err := parse(fs, args); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want time.Duration }{
		"interval":     {f.interval, 250 * time.Millisecond},
		"window":       {f.window, 10 * time.Minute},
		"warn-at":      {f.warnAt, 90 * time.Second},
		"pss-interval": {f.pssInterval, 0},
		"leak-window":  {f.leakWindow, 2 * time.Minute},
		"duration":     {f.duration, 3 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("--%s = %v, want %v", name, c.got, c.want)
		}
	}
	// Defaults stand until set.
	fs = newFlags("record", "record", "", io.Discard)
	var g recordFlags
	g.register(fs, "out")
	if err := parse(fs, nil); err != nil || g.interval != time.Second || g.pssInterval != 10*time.Second || g.window != 10*time.Minute {
		t.Errorf("defaults: %v, interval %v, pss-interval %v, window %v", err, g.interval, g.pssInterval, g.window)
	}
}
