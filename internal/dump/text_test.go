package dump

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func renderText(t *testing.T, d *Dump) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsRune(out, 0x1b) || strings.ContainsRune(out, 0x07) {
		t.Errorf("%s text holds a raw control character", d.Kind)
	}
	if !utf8.ValidString(out) {
		t.Errorf("%s text is not valid UTF-8", d.Kind)
	}
	for i, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("%s text line %d is %d columns: %q", d.Kind, i+1, n, l)
		}
	}
	return out
}

func TestTextOOM(t *testing.T) {
	out := renderText(t, testDump())
	t.Log("\n" + out)
	if !strings.HasPrefix(out, "OOM KILL at 2026-11-25 19:02:57 UTC on host ci-runner-7\n") {
		t.Errorf("title: %q", strings.SplitN(out, "\n", 2)[0])
	}
	if _, err := indexes(out,
		"Victim      pid 10717  comm nova-api  service nova-api.service",
		"cgroup /system.slice/nova-api.service",
		"rss anon 2.1GiB  file 12.0MiB  shmem 1.0MiB  total_vm 3.0GiB  pgtables 5.0MiB",
		"oom_score_adj 200  uid 1000",
		"Trigger     pid 10720  comm nova-worker  service nova-api.service",
		"Constraint  CONSTRAINT_MEMCG",
		"oom_memcg   /system.slice/nova-api.service",
		"report joined from /dev/kmsg; memcg oom_kill counter 1",
		"PSI some 42.50 20.10 5.20  full 30.20 12.00 3.10",
		"unexplained 700.0MiB",
		"lost events mmap 3",
		"What grew in the last 10m0s",
		"Domain      memory cgroup /system.slice/nova-api.service\n            usage 2.3GiB of limit 2.4GiB at 19:02:57",
		"last minute: filled at +3.4MiB/s, usage 2.1GiB → 2.3GiB, 1m0s from 19:01:57 to the kill",
		"warned at 19:00:57, 2m0s before the kill",
		"Last 18 events of the victim's and trigger's services up to 19:02:57 (3 earlier in the dump)",
		"Last 2 other events",
	); err != nil {
		t.Error(err)
	}
	// The growing service is the first row of the growth table.
	after := out[strings.Index(out, "What grew"):]
	rows := strings.Split(after, "\n")
	if !strings.HasPrefix(rows[2], "nova-api.service ") || !strings.HasSuffix(rows[2], "VICTIM LEAK?") {
		t.Errorf("first growth row: %q", rows[2])
	}
	if !strings.Contains(out, `evil\x1b[31m\xff\xfe`) {
		t.Error("hostile comm not shown escaped")
	}
	if !strings.Contains(out, `killed 10717 nova-api`) {
		t.Error("the oom_kill event is not among the last events")
	}
	if strings.Contains(out, "Missed") || strings.Contains(out, "Run ") {
		t.Error("missed kills or run shown for a plain OOM dump")
	}
}

func TestTextOtherKinds(t *testing.T) {
	warn := renderText(t, warnDump())
	if _, err := indexes(warn, "OOM WARNING at 2026-11-25 18:57:57 UTC on host ci-runner-7",
		"Warning     OOM expected in 2m10s in /a/b, driven by nova-api", "What grew in the last 5m0s"); err != nil {
		t.Error(err)
	}
	if strings.Contains(warn, "Victim ") {
		t.Error("a warning shows a victim")
	}
	sum := renderText(t, summaryDump())
	t.Log("\n" + sum)
	if _, err := indexes(sum, "RUN SUMMARY at", "Kill 1 of 2 at 2026-11-25 18:58:57 UTC",
		`comm evil\x1b[31m\xff\xfe  service <img src=x onerror=alert(1)>`, "no kernel report found",
		"memcg oom_kill counter unreadable", "Kill 2 of 2", "Missed      1 OOM kill(s) not recorded: the kernel counted 3",
		"Run         make test 'ARGS=-run x'", "exit code 2 after 11m0s", "oom-20261125T190257Z-10717.json"); err != nil {
		t.Error(err)
	}
	snap := renderText(t, minimalDump(KindSnapshot))
	if _, err := indexes(snap, "SNAPSHOT at 2026-11-25 19:02:57 UTC on host h", "(no services)", "Events: none recorded"); err != nil {
		t.Error(err)
	}
	// Only a top-level victim (no Kills): still shown.
	d := testDump()
	d.Kills = nil
	if _, err := indexes(renderText(t, d), "Victim      pid 10717", "Constraint  CONSTRAINT_MEMCG"); err != nil {
		t.Error(err)
	}
}

func TestTextConstraintInferred(t *testing.T) {
	d := testDump()
	d.Kills[0].ConstraintInferred, d.Kills[0].KernelReport = true, false
	out := renderText(t, d)
	if !strings.Contains(out, "Constraint  CONSTRAINT_MEMCG (inferred from the victim's memcg; the kernel printed none)") {
		t.Error("inferred constraint not marked")
	}
}
