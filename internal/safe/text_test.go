package safe

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"nova-api":              "nova-api",
		"python3 /usr/bin/x":    "python3 /usr/bin/x",
		"évolution ✓":           "évolution ✓",
		"evil\x1b[31m":          `evil\x1b[31m`,
		"title\x1b]0;pwned\x07": `title\x1b]0;pwned\x07`,
		"a\\b":                  `a\\b`,
		"bad\xffutf8":           `bad\xffutf8`,
		"tab\there\nnl":         `tab\x09here\x0anl`,
		"c1\u009bcsi":           `c1\x9bcsi`,
		"bidi\u202eoverride":    `bidi\u202eoverride`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("evil\x1b[31m\x07\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' && !strings.Contains(s, "\uFFFD") {
				t.Fatalf("Text(%q) = %q keeps a control character %U", s, out, r)
			}
		}
	})
}
