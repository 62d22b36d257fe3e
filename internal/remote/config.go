package remote

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"
)

// ParseURL checks a --remote-write URL: http or https (TLS with the system's
// roots), with a host.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	return u, nil
}

// reserved are the headers the protocol sets itself (and Host, which Go
// would ignore as a header).
var reserved = []string{"Content-Type", "Content-Encoding", "Content-Length", "User-Agent",
	"X-Prometheus-Remote-Write-Version", "Retry-Attempt", "Host"}

// ParseHeader checks a --remote-write-header K=V and returns the canonical
// name and the value.
func ParseHeader(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q: want NAME=VALUE", s)
	}
	for _, c := range []byte(k) {
		if !tokenChar(c) {
			return "", "", fmt.Errorf("%q: bad character %q in the header name", s, c)
		}
	}
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", "", fmt.Errorf("%s: control character %q in the value", k, c)
		}
	}
	k = textproto.CanonicalMIMEHeaderKey(k)
	for _, r := range reserved {
		if k == r {
			return "", "", fmt.Errorf("%s: set by oomtrace itself", k)
		}
	}
	return k, strings.TrimSpace(v), nil
}

// tokenChar says whether c may be in a header name (RFC 9110's tchar).
func tokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ReadToken reads a bearer token file: its content without surrounding
// white space, not empty.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%s: control character in the token", path)
	}
	return tok, nil
}

// transport adds the configured headers, the bearer token (re-read for
// each request, so a rotated token is picked up) and the User-Agent.
type transport struct {
	base      http.RoundTripper
	headers   http.Header
	tokenFile string
	userAgent string
	token     string // the last token read; kept when a re-read fails
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, vs := range t.headers {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", t.userAgent)
	if t.tokenFile != "" {
		// One request at a time: the sender is a single goroutine.
		if tok, err := ReadToken(t.tokenFile); err == nil {
			t.token = tok
		}
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(req)
}
