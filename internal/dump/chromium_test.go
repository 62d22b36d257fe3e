package dump

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// findChromium looks Chromium up on PATH under its usual names.
func findChromium() (string, error) {
	var err error
	for _, name := range []string{"chromium", "chromium-browser"} {
		var p string
		if p, err = exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", err
}

// TestHTMLInChromium opens an HTML dump in headless Chromium, offline, and
// checks what the browser made of it. It runs under CI=true, where a missing
// Chromium is a failure, and elsewhere is skipped; set
// OOMTRACE_SCREENSHOT=/path.png to also take a screenshot.
func TestHTMLInChromium(t *testing.T) {
	if os.Getenv("CI") != "true" {
		t.Skip("CI=true is unset: not starting a browser")
	}
	chromium, err := findChromium()
	if err != nil {
		t.Fatalf("no chromium or chromium-browser on PATH, and CI=true forbids skipping: %v", err)
	}
	dir := t.TempDir()
	paths, err := WriteFiles(dir, "oom", testDump())
	if err != nil {
		t.Fatal(err)
	}
	page := "file://" + paths[1]
	run := func(extra ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-extensions", "--user-data-dir=" + filepath.Join(dir, "profile"),
		}, extra...)
		cmd := exec.CommandContext(ctx, chromium, append(args, page)...)
		cmd.WaitDelay = 5 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		return string(out)
	}
	dom := run("--dump-dom")
	if _, err := indexes(dom, "<svg", "<polygon", "nova-api", "OOM KILL at 2026-11-25 19:02:57 UTC", "CONSTRAINT_MEMCG"); err != nil {
		t.Error(err)
	}
	// The hostile name is still text: had it been parsed as markup, the DOM
	// would hold an <img> element (whose onerror would have run).
	if !strings.Contains(dom, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the hostile service name is not in the DOM as text")
	}
	if strings.Contains(strings.ToLower(dom), "<img") || strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("the DOM holds an <img> or a <script>")
	}
	if shot := os.Getenv("OOMTRACE_SCREENSHOT"); shot != "" {
		run("--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
		t.Logf("screenshot in %s", shot)
	}
}
