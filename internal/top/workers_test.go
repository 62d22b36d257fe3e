package top

import (
	"slices"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// The drill-down's worker figures: plain once every worker is read, marked
// partial while some are not, and no figure at all while none is.
func TestWorkerItems(t *testing.T) {
	cases := []struct {
		w    aggregate.Workers
		want []string
	}{
		{aggregate.Workers{}, nil},
		{aggregate.Workers{Count: 4, USSMean: 20 * mib, USSMax: 21 * mib, Shared: 600 * mib},
			[]string{"workers 4", "worker USS mean 20.0MiB max 21.0MiB", "shared 600.0MiB"}},
		{aggregate.Workers{Count: 4, USSMean: 20 * mib, USSMax: 21 * mib, Shared: 300 * mib, Unread: 2},
			[]string{"workers 4", "worker USS mean 20.0MiB~ max 21.0MiB~", "shared 300.0MiB~", "(2 of 4 not read yet)"}},
		{aggregate.Workers{Count: 4, Unread: 4}, []string{"workers 4", "worker USS not read yet"}},
	}
	for _, c := range cases {
		if got := workerItems(aggregate.Service{Workers: c.w}); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.w, got, c.want)
		}
	}
}
