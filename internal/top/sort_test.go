package top

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

func TestParseSortKey(t *testing.T) {
	for _, k := range SortKeys() {
		got, err := ParseSortKey(string(k))
		if err != nil || got != k {
			t.Errorf("ParseSortKey(%q) = %q, %v", k, got, err)
		}
	}
	if got, err := ParseSortKey(" PSS "); err != nil || got != SortPSS {
		t.Errorf("ParseSortKey(\" PSS \") = %q, %v", got, err)
	}
	for _, bad := range []string{"", "mem", "rss,pss"} {
		_, err := ParseSortKey(bad)
		if err == nil {
			t.Fatalf("ParseSortKey(%q) succeeded", bad)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "rss, pss, growth, oom, name") {
			t.Errorf("ParseSortKey(%q) error %q: want one line listing the keys", bad, msg)
		}
	}
}

func TestSortServices(t *testing.T) {
	for _, tc := range []struct {
		key  SortKey
		want []string
	}{
		{SortRSS, []string{"postgres", "nova-api", "kafka", hostile}},
		{SortPSS, []string{"kafka", "nova-api", "postgres", hostile}},
		{SortGrowth, []string{"nova-api", hostile, "postgres", "kafka"}}, // 0 = 0: by name
		{SortOOM, []string{"kafka", hostile, "nova-api", "postgres"}},
		{SortName, []string{hostile, "kafka", "nova-api", "postgres"}},
	} {
		svcs := fixture().Services
		SortServices(svcs, tc.key)
		if got := names(svcs); !slices.Equal(got, tc.want) {
			t.Errorf("sort %s: got %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestSortServicesTiesAndNaN(t *testing.T) {
	svcs := []aggregate.Service{
		{Name: "c", Growth: math.NaN(), Memory: aggregate.Memory{RSS: 1}}, {Name: "b", Growth: 1, Memory: aggregate.Memory{RSS: 1}}, {Name: "a", Growth: -1, Memory: aggregate.Memory{RSS: 1}},
	}
	SortServices(svcs, SortRSS)
	if got := names(svcs); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("rss ties: got %q", got)
	}
	SortServices(svcs, SortGrowth)
	if got := names(svcs); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("growth with NaN: got %q", got)
	}
}

func TestSortKeyCycle(t *testing.T) {
	k, seen := SortRSS, []SortKey{}
	for range SortKeys() {
		seen = append(seen, k)
		k = k.next()
	}
	if k != SortRSS || !slices.Equal(seen, SortKeys()) {
		t.Errorf("cycle: %q then %q", seen, k)
	}
}
