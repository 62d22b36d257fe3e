package service

import (
	"strings"
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"web=comm:^nginx$", "a=exe:[", "=cgroup:/x/*", "x=cmdline:(a|b)+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "invalid rule ") {
				t.Fatalf("error %q", msg)
			}
			return
		}
		if r.Name == "" || r.Pattern == "" {
			t.Fatalf("empty part in %+v", r)
		}
		again, err := ParseRule(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("String %q does not parse back: %v", r.String(), err)
		}
		p := Proc{PID: 3, PPID: 1, Comm: s, Cmdline: strings.Fields(s), Exe: s, Cgroup: s}
		r.Match(p)
		if k := NewResolver([]Rule{r}).Resolve(p, nil); k.Name == "" {
			t.Fatalf("empty key for %+v", p)
		}
	})
}

func FuzzCgroupPath(f *testing.F) {
	for _, s := range []string{"/system.slice/nginx.service", "/docker/" + id, "/kubepods/burstable/pod" + uid} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if u, ok := UnitFromCgroup(path); ok != (u != "") {
			t.Fatalf("UnitFromCgroup(%q) = %q, %v", path, u, ok)
		}
		if c, ok := ContainerFromCgroup(path); ok {
			rt, short, _ := strings.Cut(c, ":")
			short = strings.TrimPrefix(short, "pod")
			if rt == "" || short == "" || len(short) > 12 || strings.Trim(short, "0123456789abcdef") != "" {
				t.Fatalf("ContainerFromCgroup(%q) = %q", path, c)
			}
		} else if c != "" {
			t.Fatalf("ContainerFromCgroup(%q) = %q, false", path, c)
		}
		// The same text as a process's names must not upset the resolver.
		p := Proc{PID: 5, PPID: 4, Comm: path, Cmdline: strings.Split(path, "/"), Exe: path, Cgroup: path}
		parent := Proc{PID: 4, PPID: 5, Comm: path, Cmdline: strings.Fields(path), Exe: path, Cgroup: path}
		k := NewResolver(nil).Resolve(p, func(int) (Proc, bool) { return parent, true })
		if k.Name == "" || k.Kind == "" {
			t.Fatalf("key %+v for %q", k, path)
		}
	})
}
