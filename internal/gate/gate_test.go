package gate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
)

const mib = 1 << 20

func TestParseBudget(t *testing.T) {
	for in, want := range map[string]Budget{
		"web=800MiB":           {"web", 800 * mib},
		" db = 1.5G ":          {"db", 1536 * mib},
		"a=b=4096":             {"a=b", 4096},
		"(other services)=1GB": {"(other services)", 1e9},
	} {
		got, err := ParseBudget(in)
		if err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"web":           "want SERVICE=SIZE",
		"=1G":           "no service name",
		"web=":          `invalid size ""`,
		"web=800XB":     `invalid size "800XB"`,
		"web=-1M":       `invalid size "-1M"`,
		"web=0":         "above zero",
		"web=99999999T": "too large",
	} {
		if _, err := ParseBudget(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseBudget(%q): %v, want an error with %q", in, err, msg)
		}
	}
}

func TestParseBudgets(t *testing.T) {
	in := "# gate budgets\n\nweb=800MiB   # the API\n  db = 2GiB\n"
	got, err := ParseBudgets(strings.NewReader(in), "b.conf")
	if err != nil || len(got) != 2 || got[0] != (Budget{"web", 800 * mib}) || got[1] != (Budget{"db", 2048 * mib}) {
		t.Fatalf("ParseBudgets = %+v, %v", got, err)
	}
	_, err = ParseBudgets(strings.NewReader("web=1G\n\n# x\nweb 2G\n"), "b.conf")
	if err == nil || !strings.HasPrefix(err.Error(), "b.conf:4: invalid budget") {
		t.Errorf("bad line 4: %v", err)
	}
	if err := Unique([]Budget{{"web", 1}, {"db", 1}, {"web", 2}}); err == nil || !strings.Contains(err.Error(), `"web" has more than one budget`) {
		t.Errorf("duplicate: %v", err)
	}
}

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

// svc makes a service with one sample a second of these PSS figures in
// MiB; a negative figure is a sample without processes.
func svc(name string, pss ...int) dump.Service {
	s := dump.Service{Name: name}
	for i, p := range pss {
		smp := dump.Sample{Time: t0.Add(time.Duration(i) * time.Second), Procs: 1, PSS: uint64(p) * mib, PSSCovered: true}
		if p < 0 {
			smp.Procs, smp.PSS = 0, 0
		}
		s.Samples = append(s.Samples, smp)
	}
	return s
}

func summary(at time.Time, svcs ...dump.Service) *dump.Dump {
	return &dump.Dump{Version: dump.Version, Kind: dump.KindSummary, Time: at, Services: svcs, Run: &dump.Run{}}
}

func TestFigures(t *testing.T) {
	s := svc("web", 10, 30, 50, 40, -1)
	f, ok := Figures(&s)
	want := dump.Figures{PeakPSSBytes: 50 * mib, PeakTime: t0.Add(2 * time.Second), EndPSSBytes: 40 * mib, GrowthBytes: 30 * mib}
	if !ok || f != want {
		t.Errorf("Figures = %+v, %v; want %+v", f, ok, want)
	}
	// RSS standing in for a PSS not read yet overstates it: such a sample
	// counts only when the service has no other.
	s = svc("new", 30, 20, 25)
	s.Samples[0].PSSCovered = false
	f, ok = Figures(&s)
	want = dump.Figures{PeakPSSBytes: 25 * mib, PeakTime: t0.Add(2 * time.Second), EndPSSBytes: 25 * mib, GrowthBytes: 5 * mib}
	if !ok || f != want {
		t.Errorf("Figures with a stand-in = %+v, %v; want %+v", f, ok, want)
	}
	for i := range s.Samples {
		s.Samples[i].PSSCovered = false
	}
	f, ok = Figures(&s)
	want = dump.Figures{PeakPSSBytes: 30 * mib, PeakTime: t0, EndPSSBytes: 25 * mib, GrowthBytes: -5 * mib}
	if !ok || f != want {
		t.Errorf("Figures of stand-ins only = %+v, %v; want %+v", f, ok, want)
	}
	s = svc("idle", -1, -1)
	if _, ok := Figures(&s); ok {
		t.Error("a service without a process: ok, want not seen")
	}
}

func TestCheck(t *testing.T) {
	d := summary(t0, svc("web", 100, 700, 801, 600), svc("db", 300, 512), svc("idle", -1))
	got := Check(d, []Budget{{"web", 800 * mib}, {"db", 512 * mib}, {"cache", mib}, {"idle", mib}})
	at2, at1 := t0.Add(2*time.Second), t0.Add(time.Second)
	want := []dump.Budget{
		{Service: "web", LimitBytes: 800 * mib, Result: dump.BudgetFail, PeakPSSBytes: 801 * mib, PeakTime: &at2},
		{Service: "db", LimitBytes: 512 * mib, Result: dump.BudgetPass, PeakPSSBytes: 512 * mib, PeakTime: &at1}, // at the limit passes
		{Service: "cache", LimitBytes: mib, Result: dump.BudgetNotSeen},
		{Service: "idle", LimitBytes: mib, Result: dump.BudgetNotSeen},
	}
	if a, b := js(t, got), js(t, want); a != b {
		t.Errorf("Check:\n got %s\nwant %s", a, b)
	}
	if f := Failed(got); len(f) != 1 || f[0] != "web peak PSS 801.0MiB > budget 800.0MiB" {
		t.Errorf("Failed = %q", f)
	}
}

func js(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compareFixture: web triples its 64 MiB peak, db grows 10 MiB on 100
// (10%), tiny grows 4 -> 12 MiB (200%, under the floor), cache is new,
// old vanished.
func compareFixture() (a, b *dump.Dump) {
	a = summary(t0, svc("web", 16, 64, 40), svc("db", 100, 100), svc("tiny", 4), svc("old", 20, 30))
	b = summary(t0.Add(time.Hour), svc("web", 16, 192, 100), svc("db", 90, 110), svc("tiny", 12), svc("cache", 0, 8))
	return a, b
}

func TestCompare(t *testing.T) {
	a, b := compareFixture()
	c := Compare(a, b, 20)
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "web db cache tiny old" {
		t.Fatalf("order %q, want largest peak growth first", got)
	}
	web, db, cache, tiny, old := c.Services[0], c.Services[1], c.Services[2], c.Services[3], c.Services[4]
	if web.PeakChangeBytes != 128*mib || *web.PeakChangePct != 200 || web.EndChangeBytes != 60*mib || *web.EndChangePct != 150 ||
		web.GrowthChangeBytes != (84-24)*mib || !web.Regression || web.Status != dump.ChangeBoth {
		t.Errorf("web: %s", js(t, web))
	}
	if db.PeakChangeBytes != 10*mib || *db.PeakChangePct != 10 || db.EndChangeBytes != 10*mib || db.GrowthChangeBytes != 20*mib || db.Regression {
		t.Errorf("db: %s", js(t, db))
	}
	if tiny.PeakChangeBytes != 8*mib || *tiny.PeakChangePct != 200 || tiny.Regression {
		t.Errorf("tiny (200%% but under the 16 MiB floor): %s", js(t, tiny))
	}
	if cache.Status != dump.ChangeNew || cache.A != nil || cache.PeakChangeBytes != 8*mib || cache.PeakChangePct != nil || cache.Regression {
		t.Errorf("cache: %s", js(t, cache))
	}
	if old.Status != dump.ChangeVanished || old.B != nil || old.PeakChangeBytes != -30*mib || old.PeakChangePct != nil {
		t.Errorf("old: %s", js(t, old))
	}
	if r := Regressions(c); len(r) != 1 || r[0] != "web peak PSS regressed 64.0MiB -> 192.0MiB (+200.0% > 20%)" {
		t.Errorf("Regressions = %q", r)
	}
	// Without --max-regression nothing is a regression; at 200% web is not
	// above it; at 0% anything above the floor is.
	if r := Regressions(Compare(a, b, 0)); len(r) != 1 {
		t.Errorf("max 0%%: regressions %q, want web's", r)
	}
	for _, pct := range []float64{-1, 200} {
		if r := Regressions(Compare(a, b, pct)); len(r) != 0 {
			t.Errorf("max %v%%: regressions %q", pct, r)
		}
	}
}

func TestReadSummary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, d any) string {
		p := filepath.Join(dir, name)
		b, _ := json.Marshal(d)
		if s, ok := d.(string); ok {
			b = []byte(s)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, _ := compareFixture()
	good := write("summary.json", a)
	if d, err := ReadSummary(good); err != nil || len(d.Services) != 4 {
		t.Fatalf("ReadSummary(good) = %v", err)
	}
	oom := *a
	oom.Kind = dump.KindOOM
	newer := *a
	newer.Version = dump.Version + 1
	for path, msg := range map[string]string{
		write("oom.json", &oom):                                               "a dump of kind oom, not a run's summary",
		write("newer.json", &newer):                                           "is newer than this oomtrace understands",
		write("pod.json", `{"apiVersion": "v1", "kind": "Pod"}`):              "not an oomtrace dump",
		write("cut.json", `{"version": 1, "kind": "summary", "time": "2026-`): "cut.json",
		filepath.Join(dir, "missing.json"):                                    "missing.json: no such file",
	} {
		_, err := ReadSummary(path)
		if err == nil || !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ReadSummary(%s) = %v, want one line with %q", filepath.Base(path), err, msg)
		}
	}
}
