package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, s := range []string{"http://127.0.0.1:9090/api/v1/write", "https://prom.example/api/v1/push?tenant=a"} {
		if u, err := ParseURL(s); err != nil || u.String() != s {
			t.Errorf("ParseURL(%q) = %v, %v", s, u, err)
		}
	}
	for s, want := range map[string]string{
		"ftp://h/x":          "want an http:// or https:// URL",
		"127.0.0.1:9090/w":   "first path segment in URL cannot contain colon",
		"http:///api":        "no host",
		"http://[::1/w":      "missing ']'",
		"":                   "want an http:// or https:// URL",
		"http://h/\x7f":      "invalid control character",
		"https//missing.col": "want an http:// or https:// URL",
	} {
		_, err := ParseURL(s)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseURL(%q) = %v, want one line with %q", s, err, want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for s, want := range map[string][2]string{
		"X-Scope-OrgID=tenant-1":            {"X-Scope-Orgid", "tenant-1"},
		"authorization=Basic dTpw":          {"Authorization", "Basic dTpw"},
		"x-a= spaced value ":                {"X-A", "spaced value"},
		"X-Empty=":                          {"X-Empty", ""},
		"X-Eq=a=b":                          {"X-Eq", "a=b"},
		"X-Tab=a\tb":                        {"X-Tab", "a\tb"},
		"x_under.score~=v":                  {"X_under.score~", "v"},
		"X-Unicode=\u00e9t\u00e9 caf\u00e9": {"X-Unicode", "\u00e9t\u00e9 caf\u00e9"},
	} {
		k, v, err := ParseHeader(s)
		if err != nil || k != want[0] || v != want[1] {
			t.Errorf("ParseHeader(%q) = %q, %q, %v; want %q", s, k, v, err, want)
		}
	}
	for s, want := range map[string]string{
		"NoEquals":             "want NAME=VALUE",
		"=v":                   "want NAME=VALUE",
		"Bad Name=v":           "bad character ' '",
		"X-A:=v":               "bad character ':'",
		"X-A=v\r\nInjected: 1": "control character '\\r'",
		"content-type=text":    "Content-Type: set by oomtrace itself",
		"Content-Encoding=gz":  "set by oomtrace itself",
		"User-Agent=x":         "set by oomtrace itself",
		"Host=x":               "set by oomtrace itself",
	} {
		_, _, err := ParseHeader(s)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseHeader(%q) = %v, want one line with %q", s, err, want)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if tok, err := ReadToken(write("ok", "  abc.def-123\n")); err != nil || tok != "abc.def-123" {
		t.Errorf("ReadToken = %q, %v", tok, err)
	}
	for path, want := range map[string]string{
		write("empty", "\n \n"):      "empty",
		write("two", "a\nb"):         "control character",
		filepath.Join(dir, "absent"): "no such file",
		dir:                          "is a directory",
	} {
		_, err := ReadToken(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadToken(%s) = %v, want %q", path, err, want)
		}
	}
}
