package dump

import (
	"bytes"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// TestGolden pins the dump's three renderings of the fixtures byte for byte.
func TestGolden(t *testing.T) {
	for _, r := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"oom.txt", func(b *bytes.Buffer) error { return WriteText(b, testDump()) }},
		{"oom.json", func(b *bytes.Buffer) error { return writeJSON(b, testDump()) }},
		{"oom.html", func(b *bytes.Buffer) error { return WriteHTML(b, testDump()) }},
		{"oom-stacks.txt", func(b *bytes.Buffer) error { return WriteText(b, testDumpStacks()) }},
		{"oom-stacks.json", func(b *bytes.Buffer) error { return writeJSON(b, testDumpStacks()) }},
		{"oom-stacks.html", func(b *bytes.Buffer) error { return WriteHTML(b, testDumpStacks()) }},
	} {
		var b bytes.Buffer
		if err := r.render(&b); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		testutil.Golden(t, r.name, b.Bytes())
	}
}
