package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseAddr(t *testing.T) {
	for _, c := range []struct {
		in, want string
		err      string // substring of the error; "" when valid
	}{
		{":9000", "127.0.0.1:9000", ""},
		{":0", "127.0.0.1:0", ""},
		{":09100", "127.0.0.1:9100", ""},
		{"127.0.0.1:9000", "127.0.0.1:9000", ""},
		{"0.0.0.0:9000", "0.0.0.0:9000", ""},
		{"localhost:9100", "localhost:9100", ""},
		{"metrics.example.com:65535", "metrics.example.com:65535", ""},
		{"[::1]:9000", "[::1]:9000", ""},
		{"[::]:9000", "[::]:9000", ""},
		{"[fe80::1%eth0]:9000", "[fe80::1%eth0]:9000", ""},

		{"x", "", "want HOST:PORT or :PORT"},
		{"9000", "", "want HOST:PORT or :PORT"},
		{"", "", "want HOST:PORT or :PORT"},
		{"::1:9000", "", "want HOST:PORT or :PORT"},
		{"host:notaport", "", `port "notaport" is not a number`},
		{"host:http", "", "is not a number"},
		{":", "", "is not a number"},
		{":-1", "", "is not a number"},
		{":+80", "", "is not a number"},
		{":65536", "", "out of range"},
		{":99999999999999999999", "", "out of range"},
		{"bad host:80", "", "bad host"},
		{"-x:80", "", "bad host"},
		{"a/b:80", "", "bad host"},
		{"evil\nhost:80", "", "bad host"},
	} {
		got, err := ParseAddr(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("ParseAddr(%q): %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseAddr(%q) = %q, want %q", c.in, got, c.want)
		case c.err != "" && err == nil:
			t.Errorf("ParseAddr(%q) = %q, want an error", c.in, got)
		case c.err != "" && !strings.Contains(err.Error(), c.err):
			t.Errorf("ParseAddr(%q): %v, want %q", c.in, err, c.err)
		case err != nil && strings.ContainsAny(err.Error(), "\r\n"):
			t.Errorf("ParseAddr(%q): error is not one line: %q", c.in, err)
		}
	}
}

func TestServe(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		t.Run(addr, func(t *testing.T) {
			e := New()
			snap, stats := fixture()
			e.Update(snap, stats)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bound, err := Serve(ctx, addr, e)
			if err != nil {
				t.Fatal(err)
			}
			tcp, ok := bound.(*net.TCPAddr)
			if !ok || !tcp.IP.IsLoopback() || tcp.Port == 0 {
				t.Fatalf("bound to %v, want a loopback port", bound)
			}

			url := "http://" + bound.String() + "/metrics"
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", url, resp.Status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, want := range []string{"oomtrace_memory_total_bytes 1.7179869184e+10", `oomtrace_oom_kills_total{service="web"} 2`, "process_cpu_seconds_total"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("GET /metrics lacks %q", want)
				}
			}
			if resp, err := http.Get("http://" + bound.String() + "/nothing"); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET /nothing: %s", resp.Status)
				}
			}

			cancel()
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, err := net.DialTimeout("tcp", bound.String(), time.Second)
				if err != nil {
					break
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatal("still listening after ctx ended")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestServeErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Serve(ctx, "host:notaport", New()); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
	bound, err := Serve(ctx, "127.0.0.1:0", New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(ctx, bound.String(), New()); err == nil {
		t.Error("Serve on a port in use succeeded")
	}
}
