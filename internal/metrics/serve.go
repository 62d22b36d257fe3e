package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParseAddr checks a listen address for the metrics endpoint, "HOST:PORT" or
// ":PORT", and returns it normalized: without a host it binds to loopback
// (":9000" -> "127.0.0.1:9000"). Port 0 picks a free port.
func ParseAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: want HOST:PORT or :PORT", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("metrics address %q: port %s out of range 0-65535", s, port)
	} else if err != nil {
		return "", fmt.Errorf("metrics address %q: port %q is not a number", s, port)
	}
	switch {
	case host == "":
		host = "127.0.0.1"
	case validIP(host), validHostname(host):
	default:
		return "", fmt.Errorf("metrics address %q: bad host %q", s, host)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

func validIP(h string) bool {
	_, err := netip.ParseAddr(h) // accepts an IPv6 zone, fe80::1%eth0
	return err == nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Serve listens on addr (see ParseAddr) and serves e at /metrics until ctx
// ends. It returns once listening, with the bound address (the chosen port
// for ":0").
func Serve(ctx context.Context, addr string, e *Exporter) (net.Addr, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "oomtrace: metrics at /metrics")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shut) != nil {
			srv.Close()
		}
	}()
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed once ctx ends
	return ln.Addr(), nil
}
