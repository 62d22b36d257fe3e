package dump

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
		out, _ := runChromium(t, chromium, dir, page, extra...)
		return out
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

// runChromium opens page in headless Chromium, offline, with extra flags,
// and returns what it printed on stdout and stderr.
func runChromium(t *testing.T, chromium, dir, page string, extra ...string) (string, string) {
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
	return string(out), stderr.String()
}

// requestRecorder is an HTTP proxy that answers nothing and records the
// first line of each request sent through it.
type requestRecorder struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
}

func newRequestRecorder(t *testing.T) *requestRecorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &requestRecorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					r.mu.Lock()
					r.lines = append(r.lines, strings.TrimSpace(line))
					r.mu.Unlock()
				}
			}()
		}
	}()
	return r
}

func (r *requestRecorder) flags() []string {
	// <-loopback> sends even loopback through the proxy.
	return []string{"--proxy-server=http://" + r.ln.Addr().String(), "--proxy-bypass-list=<-loopback>"}
}

// pageRequests returns the requests recorded but those Chromium makes of
// its own to Google's services (network time, component updates, sign-in),
// which no flag turns all off and which no page of ours names.
func (r *requestRecorder) pageRequests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	own := regexp.MustCompile(`^\S+ (https?://)?[a-z0-9.-]*\.(google\.com|googleapis\.com|gstatic\.com)[:/ ]`)
	var out []string
	for _, l := range r.lines {
		if !own.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// consoleLines are the page's console messages in Chromium's log.
func consoleLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") {
			out = append(out, l)
		}
	}
	return out
}

// TestFlameInChromium opens the page of a dump with growth stacks in
// headless Chromium: the flame graph is in the DOM with the victim's top
// function, its held share and its width, hostile names stay text, the
// console stays silent and the page requests nothing over the network. A
// control page that does log and load proves both would be seen.
func TestFlameInChromium(t *testing.T) {
	if os.Getenv("CI") != "true" {
		t.Skip("CI=true is unset: not starting a browser")
	}
	chromium, err := findChromium()
	if err != nil {
		t.Fatalf("no chromium or chromium-browser on PATH, and CI=true forbids skipping: %v", err)
	}
	dir := t.TempDir()
	log := []string{"--enable-logging=stderr", "--v=0"}

	ctl := filepath.Join(dir, "control.html")
	if err := os.WriteFile(ctl, []byte(`<!DOCTYPE html><html><body><p>control</p><script>console.error("control-console")</script>`+
		`<img src="http://oomtrace-canary.invalid/x.png"></body></html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := newRequestRecorder(t)
	_, stderr := runChromium(t, chromium, dir, "file://"+ctl, append(append([]string{"--dump-dom"}, log...), proxy.flags()...)...)
	if !strings.Contains(fmt.Sprint(consoleLines(stderr)), "control-console") {
		t.Fatalf("the control page's console message is not in Chromium's log: the console check would see nothing\n%s", stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(fmt.Sprint(proxy.pageRequests()), "oomtrace-canary.invalid") {
		if time.Now().After(deadline) {
			t.Fatalf("the control page's request did not reach the proxy: the network check would see nothing (%q)", proxy.pageRequests())
		}
		time.Sleep(50 * time.Millisecond)
	}

	paths, err := WriteFiles(dir, "oom", testDumpStacks())
	if err != nil {
		t.Fatal(err)
	}
	proxy = newRequestRecorder(t)
	dom, stderr := runChromium(t, chromium, dir, "file://"+paths[1], append(append([]string{"--dump-dom"}, log...), proxy.flags()...)...)
	if c := consoleLines(stderr); len(c) > 0 {
		t.Errorf("console messages: %q", c)
	}
	if r := proxy.pageRequests(); len(r) > 0 {
		t.Errorf("the page made network requests: %q", r)
	}
	i := strings.Index(dom, `<svg class="flame"`)
	if i < 0 {
		t.Fatalf("no flame graph in the DOM:\n%s", dom)
	}
	svg := dom[i : i+strings.Index(dom[i:], "</svg>")]
	if n := strings.Count(svg, "<rect "); n != 11 {
		t.Errorf("%d frames drawn, want 11", n)
	}
	// The top function's title carries its share of the held bytes and its
	// rect is 600/950 of the width.
	top := regexp.MustCompile(`<title>` + topFunc + `\n[^<]*held 600\.0MiB \(63\.2% of [^<]*</title><rect x="0\.0" y="72" width="([0-9.]+)"`).FindStringSubmatch(svg)
	if top == nil {
		t.Fatalf("no frame of %s with its held share in:\n%s", topFunc, svg)
	}
	if want := fmt.Sprintf("%.1f", 600.0/950*flameW); top[1] != want {
		t.Errorf("%s is %s wide, want %s", topFunc, top[1], want)
	}
	if !strings.Contains(svg, `&lt;script&gt;alert("flame")&lt;/script&gt;`) {
		t.Error("the hostile function name is not in the DOM as text")
	}
	low := strings.ToLower(dom)
	if strings.Contains(low, "<script") || strings.Contains(low, "<img") {
		t.Error("the DOM holds a <script> or an <img>")
	}
}
