package gate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// TestGoldenCompare pins `oomtrace compare`'s table and JSON, and a run
// summary's budget and baseline sections, byte for byte.
func TestGoldenCompare(t *testing.T) {
	a, b := compareFixture()
	c := Compare(a, b, 20)
	c.AFile, c.BFile = "a/summary.json", "b/summary.json"
	var buf bytes.Buffer
	if err := dump.WriteComparison(&buf, c, 0); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "compare.txt", buf.Bytes())
	buf.Reset()
	if err := dump.WriteComparisonJSON(&buf, c); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "compare.json", buf.Bytes())

	// The same comparison in a run's summary (B is the run), with budgets.
	c.BFile = ""
	b.Run = &dump.Run{Command: []string{"./gate.sh"}, Start: t0, End: t0.Add(3 * time.Second), Baseline: c,
		Budgets: Check(b, []Budget{{"web", 128 * mib}, {"db", 256 * mib}, {"cache", 8 * mib}, {"nosuch", mib}})}
	b.Kind = dump.KindSummary
	buf.Reset()
	if err := dump.WriteText(&buf, b); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "summary.txt", buf.Bytes())
	buf.Reset()
	if err := dump.WriteHTML(&buf, b); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`<tr class="kill"><td class="mono">web</td><td class="mono">192.0MiB</td><td class="mono">128.0MiB</td><td class="mono">03:00:01</td><td class="mono">FAIL</td></tr>`,
		`<tr><td class="mono">cache</td><td class="mono">8.0MiB</td><td class="mono">8.0MiB</td><td class="mono">03:00:01</td><td class="mono">pass</td></tr>`,
		`<td class="mono">nosuch</td><td class="mono">-</td><td class="mono">1.0MiB</td><td class="mono">-</td><td class="mono">not seen (no failure)</td>`,
		`<td class="mono">&#43;128.0MiB</td><td class="mono">&#43;200.0%</td>`,
		`<td class="mono">REGRESSION</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("summary.html lacks %s", want)
		}
	}
}
