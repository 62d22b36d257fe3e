package dump

import (
	"html"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// A run that ends before PSS covers its processes, or before the growth fit
// covers its minute: the summary shows neither the stand-in-based (here
// negative) unexplained figure nor the time to OOM as facts.
func TestPartialFiguresInSummary(t *testing.T) {
	d := summaryDump()
	d.System.UnexplainedBytes, d.System.UnexplainedCovered = -115*mib, false
	d.System.PSSUnreadProcs, d.System.PSSUnreadBytes = 8, 836*mib
	d.System.GrowthBytesPerS, d.System.GrowthSpanS, d.System.GrowthCovered = 2*mib, 2, false
	d.System.TimeToOOM = &aggregate.TimeToOOM{Domain: "system", Seconds: 100, Service: "nova-api", Headroom: 200 * mib,
		Growth: 2 * mib, GrowthSpanS: 2, Covered: false}
	for name, out := range map[string]string{"text": renderText(t, d), "html": html.UnescapeString(renderHTML(t, d))} {
		if strings.Contains(out, "-115.0MiB") {
			t.Errorf("%s: the negative unexplained figure is shown", name)
		}
		for _, want := range []string{
			"- (PSS not read yet for 8 processes)",
			"OOM expected in 1m40s~ in the system, driven by nova-api (growth over the last 2s only)",
			"+2.0MiB/s~ (over the last 2s only)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}
