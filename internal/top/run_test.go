package top

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// syncBuffer is a bytes.Buffer safe for the renderer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runAsync starts Run and returns its result channel.
func runAsync(ctx context.Context, snaps chan aggregate.Snapshot, in io.Reader, out io.Writer) chan error {
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, snaps, Options{Sort: SortName, Interval: time.Second, Input: in, Output: out})
	}()
	return done
}

func wait(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestRunQuitKey(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	out := &syncBuffer{}
	snaps := make(chan aggregate.Snapshot)
	done := runAsync(context.Background(), snaps, in, out)
	snaps <- fixture()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "nova-api") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "nova-api") {
		t.Errorf("snapshot never rendered: %q", out.String())
	}
	keys.Write([]byte("q"))
	wait(t, done)
	if strings.Contains(out.String(), "evil\x1b") {
		t.Errorf("raw hostile name in the output")
	}
}

func TestRunEndsWithFeedOrContext(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	snaps := make(chan aggregate.Snapshot)
	done := runAsync(context.Background(), snaps, in, &syncBuffer{})
	snaps <- fixture()
	close(snaps)
	wait(t, done)

	in2, keys2 := io.Pipe()
	defer keys2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done = runAsync(ctx, make(chan aggregate.Snapshot), in2, &syncBuffer{})
	time.Sleep(50 * time.Millisecond)
	cancel()
	wait(t, done)
}
