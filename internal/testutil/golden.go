package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update rewrites golden files instead of comparing: go test ./pkg -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Golden compares got with testdata/golden/NAME byte for byte. The golden
// files pin the user-visible output (text, JSON, HTML, metrics), so a change
// that was meant to move code and not behaviour shows here.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		at := 0
		for at < len(got) && at < len(want) && got[at] == want[at] {
			at++
		}
		lo := max(at-80, 0)
		t.Errorf("%s differs from %s at byte %d of %d (want %d):\n got …%q…\nwant …%q…", name, path, at, len(got), len(want),
			got[lo:min(at+80, len(got))], want[lo:min(at+80, len(want))])
	}
}
