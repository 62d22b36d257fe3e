package top

import (
	"bytes"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// TestGolden pins --json and the screens (list, drill-down) of the fixture
// byte for byte.
func TestGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixture(), SortPSS); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "snapshot.json", b.Bytes())

	m := newModel(t, 140, 40)
	testutil.Golden(t, "list.txt", []byte(m.View()))
	m = update(t, m, keyEnter)
	testutil.Golden(t, "drilldown.txt", []byte(m.View()))
}
