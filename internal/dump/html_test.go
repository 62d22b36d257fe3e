package dump

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// externalRef finds an attribute that would load something.
var externalRef = regexp.MustCompile(`(?i)<[^>]*\s(src|srcset|href|xlink:href|action|formaction|poster|background|data)\s*=`)

func renderHTML(t *testing.T, d *Dump) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	low := strings.ToLower(out)
	for _, bad := range []string{"http://", "https://", "//cdn", "<script", "<img", "<link", "<iframe", "<object", "<embed", "@import", "url(", "javascript:", "zgotmplz"} {
		if strings.Contains(low, bad) {
			i := strings.Index(low, bad)
			t.Errorf("%s HTML holds %q: ...%s...", d.Kind, bad, out[max(0, i-80):min(len(out), i+80)])
		}
	}
	if m := externalRef.FindString(out); m != "" {
		t.Errorf("%s HTML refers outside: %q", d.Kind, m)
	}
	if !utf8.ValidString(out) || strings.ContainsRune(out, 0x1b) {
		t.Errorf("%s HTML holds invalid UTF-8 or a raw ESC", d.Kind)
	}
	if err := wellFormed(out); err != nil {
		t.Errorf("%s HTML is not well-formed XML: %v", d.Kind, err)
	}
	return out
}

// wellFormed parses s as XML, strictly.
func wellFormed(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestHTMLOOM(t *testing.T) {
	out := renderHTML(t, testDump())
	if _, err := indexes(out,
		"<title>OOM KILL at 2026-11-25 19:02:57 UTC on ci-runner-7</title>",
		"Content-Security-Policy",
		"<svg class=\"chart\"",
		"nova-api.service ◆ OOM victim",
		`<polyline class="victim"`,
		"OOM kill at 19:02:57: pid 10717 nova-api (service nova-api.service) killed, triggered by pid 10720 nova-worker",
		"mremap 256.0MiB by pid 10720 nova-worker at 18:57:07.000",
		"18:54", "19:02", "GiB",
		"Victim and trigger", "CONSTRAINT_MEMCG", "/system.slice/nova-api.service",
		"What grew in the last 10m0s",
		"Events",
	); err != nil {
		t.Error(err)
	}
	if !strings.Contains(out, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("hostile service name not shown escaped")
	}
	if !strings.Contains(out, `evil\x1b[31m\xff\xfe`) {
		t.Error("hostile comm not shown escaped")
	}
	// The growth table lists the growing service first.
	table := out[strings.Index(out, "What grew in the last"):]
	if a, b := strings.Index(table, "nova-api.service"), strings.Index(table, "postgres.service"); a < 0 || b < a {
		t.Error("the growing service is not first in the growth table")
	}
	if n := strings.Count(out, `<g class="kill">`); n != 3 { // one per chart: services, system, domain
		t.Errorf("%d kill markers, want 3", n)
	}
	if n := strings.Count(out, "by pid 10720 nova-worker at"); n != 19 {
		t.Errorf("%d mmap/mremap ticks, want 19", n)
	}
}

func TestHTMLEdgeCases(t *testing.T) {
	for _, d := range []*Dump{minimalDump(KindSnapshot), minimalDump(KindSummary), summaryDump(), warnDump()} {
		out := renderHTML(t, d)
		if !strings.Contains(out, "</html>") {
			t.Errorf("%s: page not complete", d.Kind)
		}
	}
	snap := renderHTML(t, minimalDump(KindSnapshot))
	if _, err := indexes(snap, "No per-service samples in this dump.", "No system samples in this dump.",
		"No services in this dump.", "No events in this dump."); err != nil {
		t.Error(err)
	}
	// One sample, no window: still a chart.
	d := testDump()
	d.Window = Window{}
	for i := range d.Services {
		d.Services[i].Samples = d.Services[i].Samples[:1]
	}
	d.SystemSamples = d.SystemSamples[:1]
	if out := renderHTML(t, d); strings.Count(out, "<polygon") != 3 || !strings.Contains(out, "<circle") {
		t.Error("one sample is not drawn")
	}
	// The victim's service beyond the top 8 is still drawn on its own.
	d = testDump()
	for i := range 12 {
		s := d.Services[1]
		s.Name = "filler-" + string(rune('a'+i))
		s.GrowthBytes = 3 << 30
		d.Services = append(d.Services, s)
	}
	out := renderHTML(t, d)
	if !strings.Contains(out, "nova-api.service ◆ OOM victim") || !strings.Contains(out, "other (7 services)") {
		t.Error("victim's service or the other band missing with many services")
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	d := testDump()
	for b.Loop() {
		if err := WriteHTML(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}
