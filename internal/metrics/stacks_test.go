package metrics

import "testing"

// The stack counters come from the snapshot's stack stats and are absent
// when stacks are off.
func TestStackCounters(t *testing.T) {
	snap, stats := fixture()
	e := New()
	e.Update(snap, stats)
	_, fams := scrape(t, e.Handler())
	for name, want := range map[string]float64{"oomtrace_stack_samples_total": 1500, "oomtrace_stack_truncated_total": 40} {
		if v, ok := series(fams, name, map[string]string{}); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	snap.System.Stacks = nil
	e.Update(snap, stats)
	_, fams = scrape(t, e.Handler())
	for _, name := range []string{"oomtrace_stack_samples_total", "oomtrace_stack_truncated_total"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s present with stacks off", name)
		}
	}
}
