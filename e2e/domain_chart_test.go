package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// A service fills a 64 MiB memory cgroup at 6 MiB/s until the kernel kills
// it, while a shell in another service polls. The OOM dump charts the
// cgroup: its usage ends within 5% of the limit the test set, every sample's
// limit is the cgroup file's, the fill rate the text gives is the workload's,
// the page (in Chromium) draws the limit line and the kill, and the text's
// events start with the victim's service, not the shell's.
func TestDomainChart(t *testing.T) {
	testutil.NeedRoot(t)
	const limit, grow = 64 << 20, 6
	cg := testCgroup(t, "domain", limit)
	b, err := os.ReadFile(filepath.Join(cg.H.Dir(cg.Path), map[int]string{1: "memory.limit_in_bytes", 2: "memory.max"}[cg.H.Version]))
	if err != nil {
		t.Fatal(err)
	}
	fileLimit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	reports := kernelReports(t)
	out, _, _ := startRecorder(t, "-d", "250ms", "--window", "1m", "--warn-at", "1m")

	// The poller: a shell in a session of its own that runs a program
	// every 50 ms, newer in the event list than anything the victim did.
	poll := exec.Command("sh", "-c", "while :; do /bin/true; sleep 0.05; done")
	poll.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := poll.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-poll.Process.Pid, syscall.SIGKILL); poll.Wait() })

	c := startChildIn(t, cg, "service", "svc-domain", "0", "4", strconv.Itoa(grow))
	f := c.Expect(t, "service")
	pid, _ := strconv.Atoi(f[1])
	rep := reportFor(t, reports, pid, 60*time.Second)
	// Other tests' kills may be recorded too: this one's dump is named for its victim.
	files := waitGlob(t, filepath.Join(out, "oom-*-"+strconv.Itoa(pid)+".json"), 1, 10*time.Second)
	d, err := dump.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim == nil || d.Victim.PID != uint32(pid) || rep.OOMMemcg != cg.Path {
		t.Fatalf("victim %+v, the kernel's oom_memcg %q; want pid %d in %s", d.Victim, rep.OOMMemcg, pid, cg.Path)
	}
	kill := d.Kills[0].Time
	if len(d.Domains) != 1 || d.Domains[0].Memcg != cg.Path {
		t.Fatalf("domains %+v, want one of %s", d.Domains, cg.Path)
	}
	dm := d.Domains[0]
	var before []dump.DomainSample
	for _, s := range dm.Samples {
		if s.Limit != fileLimit {
			t.Errorf("sample at %s: limit %d, the cgroup file says %d", s.Time, s.Limit, fileLimit)
		}
		if !s.Time.After(kill) {
			before = append(before, s)
		}
	}
	if len(before) < 8 {
		t.Fatalf("%d samples of %s before the kill, want 8 or more", len(before), cg.Path)
	}
	last := before[len(before)-1]
	if last.Usage > limit || float64(last.Usage) < 0.95*limit {
		t.Errorf("usage %d at %s, the last sample before the kill at %s; want within 5%% of the limit %d", last.Usage, last.Time, kill, limit)
	}
	t.Logf("%d samples of %s before the kill; the last %d of %d bytes, %s before the kill; warned %s before it",
		len(before), cg.Path, last.Usage, last.Limit, kill.Sub(last.Time).Round(time.Millisecond), kill.Sub(dm.Warned).Round(time.Millisecond))
	if dm.Warned.IsZero() || !dm.Warned.Before(kill) {
		t.Errorf("warned at %s, want a warning before the kill at %s", dm.Warned, kill)
	}

	base := strings.TrimSuffix(files[0], ".json")
	waitFile(t, base+".txt", 10*time.Second)
	txt, err := os.ReadFile(base + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	text := string(txt)
	m := regexp.MustCompile(`last minute: filled at \+([0-9.]+)MiB/s`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no fill rate in the text:\n%s", text)
	}
	t.Logf("text: %s", m[0])
	// The cgroup lives less than its minute: the rate may include the
	// start-up's 12 MiB (8 shared, 4 private) over the ~9 s it lives, up
	// to +1.3 MiB/s, hence 30%.
	if r, _ := strconv.ParseFloat(m[1], 64); math.Abs(r-grow) > 0.3*grow {
		t.Errorf("filled at %s MiB/s, the workload grows %d MiB/s", m[1], grow)
	}
	// The event list starts with the victim's service; the poller's
	// programs come after.
	i := strings.Index(text, "events of the victim's and trigger's services")
	if i < 0 {
		t.Fatalf("no events of the victim's service in the text:\n%s", text)
	}
	rows := strings.Split(text[i:], "\n")
	if len(rows) < 3 || len(strings.Fields(rows[2])) < 3 || strings.Fields(rows[2])[2] != strconv.Itoa(pid) {
		t.Errorf("the first event is not the victim's (pid %d):\n%s", pid, strings.Join(rows[:min(len(rows), 4)], "\n"))
	}
	// The poller ran while the victim lived (in time order its runs mix
	// with the victim's events and follow them), yet none of its runs is
	// among the victim's service's. (Other tests' processes may be newer
	// still: which of all those the other events show is not this test's
	// to say.)
	var victimFirst, pollLast time.Time
	for _, e := range d.Events {
		et, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.PID == uint32(pid) && victimFirst.IsZero():
			victimFirst = et
		case e.Proc != nil && e.Filename == "/bin/true" && !et.After(kill):
			pollLast = et
		}
	}
	if victimFirst.IsZero() || !pollLast.After(victimFirst) {
		t.Errorf("the victim's first event at %s, the poller's last before the kill at %s: want the poller's later", victimFirst, pollLast)
	}
	other := strings.Index(text, "other events")
	if other < i || strings.Contains(text[i:other], "/bin/true") {
		t.Errorf("the poller's events are among the victim's service's:\n%s", text[i:])
	}

	waitFile(t, base+".html", 10*time.Second)
	checkDomainInChromium(t, base+".html", cg.Path, limit)
}

// checkDomainInChromium opens the page in headless Chromium and finds the
// domain chart in the DOM: its heading, the limit line, usage reaching it,
// and the kill's marker.
func checkDomainInChromium(t *testing.T, page, memcg string, limit uint64) {
	t.Helper()
	var chromium string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		testutil.SkipOrFail(t, "no chromium or chromium-browser on PATH (apt-get install chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--dump-dom", "file://"+page)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(b)
	if !strings.Contains(dom, "<h2>OOM domain: memory cgroup "+memcg+"</h2>") {
		t.Fatalf("no domain heading for %s in the DOM", memcg)
	}
	i := strings.Index(dom, `<svg class="chart domain"`)
	if i < 0 {
		t.Fatal("no domain chart in the DOM")
	}
	svg := dom[i : i+strings.Index(dom[i:], "</svg>")]
	ys := func(class string) []float64 {
		m := regexp.MustCompile(`<polyline class="` + class + `" points="([^"]+)"`).FindStringSubmatch(svg)
		if m == nil {
			t.Fatalf("no %s line in the domain chart:\n%s", class, svg)
		}
		var out []float64
		for _, p := range strings.Fields(m[1]) {
			_, y, _ := strings.Cut(p, ",")
			v, err := strconv.ParseFloat(y, 64)
			if err != nil {
				t.Fatalf("%s point %q", class, p)
			}
			out = append(out, v)
		}
		return out
	}
	lim, use := ys("limit"), ys("usage")
	top := slices.Min(use) // SVG y grows downwards: the highest usage
	if slices.Min(lim) != slices.Max(lim) || math.Abs(top-lim[0]) > 0.05*(slices.Max(use)-lim[0]) {
		t.Errorf("limit line at y %v, usage peaks at y %v (its base at %v): usage should reach the limit", lim[0], top, slices.Max(use))
	}
	if !regexp.MustCompile(`<g class="kill"><title>OOM kill at [0-9:]+: pid \d+ svc-domain`).MatchString(svg) {
		t.Errorf("no kill marker of svc-domain in the domain chart:\n%s", svg)
	}
	if label := fmt.Sprintf("<title>limit %.1fMiB</title>", float64(limit)/(1<<20)); !strings.Contains(svg, label) {
		t.Errorf("the limit line is not labelled %s", label)
	}
}
