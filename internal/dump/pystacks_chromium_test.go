package dump

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The page of a Python service's stacks in headless Chromium: the folded
// flame graph and the folded runs' rows show, the full graph and the folded
// frames do not; ticking the checkbox swaps them. A script added to a copy
// of the page (the page has none, and its policy allows none: the copy's allows the probe) clicks it and reads the computed styles.
func TestPythonFoldInChromium(t *testing.T) {
	if os.Getenv("CI") != "true" {
		t.Skip("CI=true is unset: not starting a browser")
	}
	chromium, err := findChromium()
	if err != nil {
		t.Fatalf("no chromium or chromium-browser on PATH, and CI=true forbids skipping: %v", err)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, testDumpPython(t)); err != nil {
		t.Fatal(err)
	}
	const script = `
const shown = () => ['svg.flame.foldmark', 'svg.flame.fold', 'li.fold', 'li.foldmark'].map(s => getComputedStyle(document.querySelector(s)).display).join(',');
const before = shown();
document.getElementById('allframes').click();
document.body.setAttribute('data-probe', before + ' / ' + shown());
`
	sum := sha256.Sum256([]byte(script))
	const csp = `style-src 'unsafe-inline'"`
	page := b.String()
	if strings.Count(page, "</body>") != 1 || strings.Count(page, csp) != 1 {
		t.Fatal("no single </body> to add the probe before, or no policy to allow it in")
	}
	page = strings.Replace(page, csp, `style-src 'unsafe-inline'; script-src 'sha256-`+base64.StdEncoding.EncodeToString(sum[:])+`'"`, 1)
	probe := "<script>" + script + "</script></body>"
	dir := t.TempDir()
	path := filepath.Join(dir, "page.html")
	if err := os.WriteFile(path, []byte(strings.Replace(page, "</body>", probe, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	dom, stderr := runChromium(t, chromium, dir, "file://"+path, "--dump-dom", "--enable-logging=stderr", "--v=0")
	m := regexp.MustCompile(`data-probe="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not run: %q", consoleLines(stderr))
	}
	if want := "block,none,none,list-item / none,block,list-item,none"; m[1] != want {
		t.Errorf("displayed (folded graph, full graph, folded frame, run's row) before / after the click: %s, want %s", m[1], want)
	}
}
