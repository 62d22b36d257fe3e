package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The filter reads what go test -json really writes for a module with a
// passing, a failing, a skipped, a kernel-skipped and a skipped subtest.
func TestFilter(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod": "module skiptry\n\ngo 1.26\n",
		"a_test.go": `package skiptry

import "testing"

func TestPass(t *testing.T)   { t.Log("passing noise") }
func TestFail(t *testing.T)   { t.Error("broken here") }
func TestSkip(t *testing.T)   { t.Skip("no tool") }
func TestKernel(t *testing.T) { t.Skip("` + "not on this kernel: " + `no kprobes") }
func TestSub(t *testing.T) {
	t.Run("x", func(t *testing.T) { t.Skipf("sub %d", 1) })
}
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	js, err := cmd.Output()
	if err == nil {
		t.Fatal("go test passed a failing test")
	}
	var out bytes.Buffer
	skips, err := filter(bytes.NewReader(js), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"skiptry TestSkip: a_test.go:7: no tool", "skiptry TestSub/x: a_test.go:10: sub 1"}
	if !reflect.DeepEqual(skips, want) {
		t.Errorf("skips %q, want %q", skips, want)
	}
	s := out.String()
	for _, w := range []string{"a_test.go:6: broken here", "--- FAIL: TestFail", "FAIL\tskiptry\t"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	for _, w := range []string{"passing noise", "=== RUN", "{"} {
		if strings.Contains(s, w) {
			t.Errorf("output has %q, which go test without -json leaves out:\n%s", w, s)
		}
	}
}
