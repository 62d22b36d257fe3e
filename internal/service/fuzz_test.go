package service

import (
	"slices"
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

// FuzzAppName reads command lines as /proc gives them (NUL-separated), and
// as one rewritten string, under each app server's name.
func FuzzAppName(f *testing.F) {
	for _, s := range []string{
		"uwsgi\x00--ini=/etc/nova/nova-api-uwsgi.ini", "nova-apiuWSGI master", "uwsgi --ini \"/a b/c.ini:s\"",
		"/usr/bin/python3\x00/usr/bin/gunicorn\x00-Dn\x00api\x00app:app", "gunicorn: master [x:y]",
		"python3\x00-m\x00celery\x00-A\x00proj\x00worker\x00-n\x00w1@%h", "uvicorn\x00--port", "a '\\\"b c\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		for _, p := range []Proc{
			{Comm: "uwsgi", Cmdline: argv},
			{Comm: "uwsgi", Cmdline: []string{s}, Exe: "/usr/bin/uwsgi-core"},
			{Comm: "gunicorn", Cmdline: append([]string{"python3", "gunicorn"}, argv...)},
			{Comm: "celery", Cmdline: append([]string{"celery"}, argv...)},
			{Comm: "python3", Cmdline: append([]string{"python3", "-m", "uvicorn"}, argv...)},
			{Comm: s, Cmdline: []string{s}, Exe: s},
		} {
			if n := procName(p); n == "" || len(n) > maxName {
				t.Fatalf("procName(%q) = %q", p.Cmdline, n)
			}
			isEmperor(p)
		}
		for _, o := range scanArgs(argv, uwsgiFlags) {
			if o.name == "" && !slices.Contains(argv, o.value) ||
				o.name != "" && (!strings.HasPrefix(o.name, "-") || !slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, o.value) })) {
				t.Fatalf("scanArgs(%q) gave %+v, not from its arguments", argv, o)
			}
		}
		// Without quotes or escapes, a rewritten command line is its fields.
		w := words([]string{s})
		if !strings.ContainsAny(s, "'\"\\") && strings.ContainsAny(s, " \t") {
			if want := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }); !slices.Equal(w, want) {
				t.Fatalf("words(%q) = %q; want %q", s, w, want)
			}
		}
	})
}
