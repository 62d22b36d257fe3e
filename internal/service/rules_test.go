package service

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: String() of the rule, or the error
	}{
		{"web=comm:^nginx$", "web=comm:^nginx$"},
		{"  web = comm : ^nginx$  ", "web=comm:^nginx$"},
		{"api=cmdline:python3 .*/nova-api( |$)", "api=cmdline:python3 .*/nova-api( |$)"},
		{"db=exe:/usr/lib/postgresql/*/bin/postgres", "db=exe:/usr/lib/postgresql/*/bin/postgres"},
		{"k8s=cgroup:/kubepods.slice/*", "k8s=cgroup:/kubepods.slice/*"},
		{"a=comm:x=y:z", "a=comm:x=y:z"}, // only the first '=' and ':' split
		{"web=comm:(", `invalid rule "web=comm:(": error parsing regexp: missing closing ): ` + "`(`"},
		{"web", `invalid rule "web": missing '=' (want NAME=FIELD:PATTERN)`},
		{"web=nginx", `invalid rule "web=nginx": missing ':' (want NAME=FIELD:PATTERN)`},
		{"=comm:nginx", `invalid rule "=comm:nginx": empty name`},
		{"  =comm:nginx", `invalid rule "=comm:nginx": empty name`},
		{"my web=comm:nginx", `invalid rule "my web=comm:nginx": name "my web" has a space, '=' or control character`},
		{"web=pid:1", `invalid rule "web=pid:1": unknown field "pid" (want comm, cmdline, exe or cgroup)`},
		{"web=Comm:x", `invalid rule "web=Comm:x": unknown field "Comm" (want comm, cmdline, exe or cgroup)`},
		{"web=comm:", `invalid rule "web=comm:": empty pattern`},
		{"web=exe:[", `invalid rule "web=exe:[": bad glob "[": syntax error in pattern`},
		{"web=cgroup:/a/[z-", `invalid rule "web=cgroup:/a/[z-": bad glob "/a/[z-": syntax error in pattern`},
		{"web=comm:(\n", `invalid rule "web=comm:(": error parsing regexp: missing closing ): ` + "`(`"},
		{"web=comm:(\nx", `invalid rule "web=comm:(\nx": error parsing regexp: missing closing ): ` + "`(\\x0ax`"},
	} {
		r, err := ParseRule(tc.in)
		got := r.String()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ParseRule(%q) = %s\n want %s", tc.in, got, tc.want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("ParseRule(%q): error has several lines: %q", tc.in, err)
		}
	}
}

func TestParseRuleErrorUnwraps(t *testing.T) {
	_, err := ParseRule("x=exe:[")
	var re *RuleError
	if !errors.As(err, &re) || !errors.Is(err, path.ErrBadPattern) || re.Rule != "x=exe:[" {
		t.Fatalf("err = %#v", err)
	}
}

func TestParseRules(t *testing.T) {
	in := "\uFEFF# services\n\n  web=comm:^nginx$\n\t# indented comment\napi = cmdline: nova-api\r\n   \n"
	rules, err := ParseRules(strings.NewReader(in), "rules.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].String() != "web=comm:^nginx$" || rules[1].String() != "api=cmdline:nova-api" {
		t.Fatalf("rules = %v", rules)
	}

	_, err = ParseRules(strings.NewReader("web=comm:nginx\n\n# x\nweb=comm:(\n"), "rules.conf")
	want := `rules.conf:4: invalid rule "web=comm:(": error parsing regexp: missing closing ): ` + "`(`"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	_, err = ParseRules(strings.NewReader("a=comm:x\n"+strings.Repeat("x", 70000)), "big")
	if err == nil || !strings.HasPrefix(err.Error(), "big:2: ") {
		t.Fatalf("long line: err = %v", err)
	}
	if rules, err := ParseRules(strings.NewReader(""), "empty"); err != nil || len(rules) != 0 {
		t.Fatalf("empty: %v %v", rules, err)
	}
}

func TestRuleMatch(t *testing.T) {
	nginx := Proc{PID: 10, Comm: "nginx", Cmdline: []string{"nginx: worker process"}, Exe: "/usr/sbin/nginx",
		Cgroup: "/system.slice/nginx.service"}
	nova := Proc{PID: 11, Comm: "nova-api", Cmdline: []string{"/usr/bin/python3", "/usr/bin/nova-api", "--config-file", "/etc/nova/nova.conf"},
		Exe: "/usr/bin/python3.11 (deleted)", Cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/cri-containerd-ab.scope"}
	for _, tc := range []struct {
		rule string
		p    Proc
		want bool
	}{
		{"w=comm:^nginx$", nginx, true},
		{"w=comm:ngin", nginx, true}, // unanchored
		{"w=comm:^ngin$", nginx, false},
		{"w=cmdline:^nginx: worker", nginx, true},
		{"n=cmdline:python3 /usr/bin/nova-api --config-file", nova, true}, // argv joined by spaces
		{"n=cmdline:nova-api$", nova, false},
		{"w=exe:/usr/sbin/nginx", nginx, true},
		{"w=exe:/usr/*/nginx", nginx, true},
		{"w=exe:nginx", nginx, true}, // no '/': base name
		{"w=exe:ngin?", nginx, true},
		{"w=exe:/nginx", nginx, false},
		{"n=exe:python3.*", nova, true}, // " (deleted)" dropped
		{"n=exe:/usr/bin/python3.11", nova, true},
		{"w=exe:*", Proc{}, false}, // unknown exe matches nothing
		{"w=cgroup:/system.slice/nginx.service", nginx, true},
		{"w=cgroup:/system.slice/*", nginx, true},
		{"w=cgroup:/system.slice", nginx, true}, // an ancestor
		{"w=cgroup:/user.slice/*", nginx, false},
		{"w=cgroup:*.service", nginx, true}, // no '/': any component
		{"n=cgroup:/kubepods.slice/*", nova, true},
		{"n=cgroup:cri-containerd-*.scope", nova, true},
		{"n=cgroup:kubepods-besteffort*", nova, false},
		{"r=cgroup:/", Proc{Cgroup: "/"}, true},
		{"r=cgroup:/", nginx, false},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Match(tc.p); got != tc.want {
			t.Errorf("%s matching %s: got %v", tc.rule, tc.p.Comm, got)
		}
	}
	if (Rule{Name: "x", Field: "comm", Pattern: "."}).Match(nginx) {
		t.Error("a Rule literal without NewRule matched")
	}
	if r, err := NewRule("x", "comm", "^nginx$"); err != nil || !r.Match(nginx) {
		t.Errorf("NewRule: %v %v", r, err)
	}
	if _, err := NewRule("x=y", "comm", "a"); err == nil {
		t.Error("NewRule accepted a name with '='")
	}
}
