package metrics

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// TestGolden pins oomtrace's own series in the exposition of the fixture byte
// for byte (the Go runtime's series change from run to run).
func TestGolden(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	body, _ := scrape(t, e.Handler())
	var own strings.Builder
	for line := range strings.Lines(body) {
		if strings.Contains(line, "oomtrace_") {
			own.WriteString(line)
		}
	}
	testutil.Golden(t, "metrics.txt", []byte(own.String()))
}
