package oomtrace

import (
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// needTool returns the path of a host tool a test drives. Missing, it fails
// the test under CI (.ci/run installs it) and skips it elsewhere, so the
// README's test command works on a machine with only Go.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return testutil.NeedTool(t, name, pkg)
}
