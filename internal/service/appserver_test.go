package service

import (
	"slices"
	"strings"
	"testing"
)

func TestAppName(t *testing.T) {
	for _, tc := range []struct {
		comm string
		argv []string // as /proc/PID/cmdline splits it
		exe  string
		want string // procName's answer
	}{
		// uwsgi: config file, else app, else its process name.
		{"uwsgi", a("uwsgi --ini /etc/nova/nova-api-uwsgi.ini"), "/usr/bin/uwsgi-core", "nova-api-uwsgi"},
		{"uwsgi", a("/usr/bin/uwsgi --ini=/etc/glance/glance-api-uwsgi.ini"), "", "glance-api-uwsgi"},
		{"uwsgi", a("uwsgi --master --enable-threads --ini /etc/keystone/keystone-uwsgi-public.ini --processes 4"), "", "keystone-uwsgi-public"},
		{"uwsgi", a("uwsgi -M -T --yaml /srv/a.yaml"), "", "a"},
		{"uwsgi", a("uwsgi -y/srv/b.yml"), "", "b"},
		{"uwsgi", a("uwsgi --json /srv/c.json"), "", "c"},
		{"uwsgi", a("uwsgi --ini /srv/all.ini:cinder"), "", "all:cinder"},
		{"uwsgi", a("uwsgi /srv/placement.ini"), "", "placement"}, // a config file as operand
		{"uwsgi", []string{"uwsgi", "--ini", "/etc/my apps/api server.ini"}, "", "api server"},
		{"uwsgi", a("uwsgi --ini /etc/x.conf"), "", "x.conf"},
		{"uwsgi", []string{"/opt/my apps/bin/uwsgi", "--ini", "y.ini"}, "", "y"},
		{"uwsgi", a("uwsgi --socket :3031 --module nova.wsgi.api:application --processes 2"), "", "nova.wsgi.api"},
		{"uwsgi", a("uwsgi -w myapp"), "", "myapp"},
		{"uwsgi", a("uwsgi --http :9090 --wsgi-file /srv/foo/wsgi.py"), "", "wsgi.py"},
		{"uwsgi", a("uwsgi --mount /api=api.wsgi:app"), "", "api.wsgi"},
		{"uwsgi", a("uwsgi --mount /=/srv/app1.py"), "", "app1.py"},
		{"uwsgi", a("uwsgi --procname-prefix nova-api --ini /etc/nova/nova-api-uwsgi.ini"), "", "nova-api"},
		{"uwsgi", a("uwsgi --procname-master keystone-master --ini x.ini"), "", "keystone-master"},
		{"uwsgi", []string{"nova-apiuWSGI master"}, "/usr/bin/uwsgi-core", "nova-api"}, // the same, as uwsgi rewrote it
		{"uwsgi", []string{"nova-apiuWSGI worker 2"}, "/usr/bin/uwsgi-core", "nova-api"},
		{"uwsgi", []string{"uWSGI master"}, "/usr/bin/uwsgi-core", "uwsgi"},
		{"uwsgi_python3", []string{"keystone-master"}, "", "keystone-master"},
		{"uwsgi", a("uwsgi --ini"), "", "uwsgi"}, // missing values
		{"uwsgi", a("uwsgi --ini --module app"), "", "app"},
		{"uwsgi", a("uwsgi --module"), "", "uwsgi"},
		{"uwsgi", a("uwsgi --ini="), "", "uwsgi"},
		{"uwsgi", a("uwsgi --http :80"), "", "uwsgi"},
		{"uwsgi", a("uwsgi"), "", "uwsgi"},
		{"uwsgitop", a("/usr/bin/python3 /usr/bin/uwsgitop --ini x.ini"), "", "uwsgitop"}, // not uwsgi
		// gunicorn: --name, else the app module.
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn -w 2 -b unix:/run/a.sock nova.wsgi.api:application"), "/usr/bin/python3.11", "nova.wsgi.api"},
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn --workers=2 --bind=:8000 --access-logfile - --reload app:create_app()"), "", "app"},
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn -n nova-api nova.wsgi.api:application"), "", "nova-api"},
		{"gunicorn", a("gunicorn --name=placement -D placement.wsgi"), "", "placement"},
		{"gunicorn", a("gunicorn -Dnapi wsgi:app"), "", "api"},
		{"gunicorn", []string{"/venv/bin/python", "/venv/bin/gunicorn", "--name", "my api", "x:y"}, "", "my api"},
		{"python3", a("python3 -m gunicorn -c conf.py web.app:app"), "", "web.app"},
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn --paste /etc/app/production.ini"), "", "production"},
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn -n"), "", "gunicorn"},
		{"gunicorn", a("/usr/bin/python3 /usr/bin/gunicorn -c /etc/gunicorn.conf.py"), "", "gunicorn"},
		{"gunicorn", []string{"gunicorn: master [nova.wsgi.api:application]"}, "", "nova.wsgi.api"}, // setproctitle
		{"gunicorn", []string{"gunicorn: worker [nova-api]"}, "", "nova-api"},
		{"gunicorn", []string{"gunicorn: master ["}, "", "gunicorn"},
		// celery: the app, and a worker's node name.
		{"celery", a("/usr/bin/python3 /usr/bin/celery -A proj worker -n w1@%h -c 2"), "", "proj:w1"},
		{"celery", a("/usr/bin/python3 /usr/bin/celery --app=proj.celery:app worker --hostname=io@host"), "", "proj.celery:io"},
		{"python3", a("python3 -m celery -Aproj beat"), "", "proj"},
		{"celery", a("/usr/bin/python3 /usr/bin/celery worker -B -n solo"), "", "solo"},
		{"celery", a("/usr/bin/python3 /usr/bin/celery -A"), "", "celery"},
		// uvicorn and hypercorn: the app.
		{"uvicorn", a("/venv/bin/python3 /venv/bin/uvicorn --host 0.0.0.0 --port 8000 --workers 2 main:app"), "", "main"},
		{"python3", a("python3 -m uvicorn --reload --factory svc.api:build"), "", "svc.api"},
		{"hypercorn", a("/venv/bin/python3 /venv/bin/hypercorn -b :8000 -w 2 --debug asgi:app"), "", "asgi"},
		{"uvicorn", a("/venv/bin/python3 /venv/bin/uvicorn --port"), "", "uvicorn"},
		// python -m MODULE names the module, as before.
		{"python3", a("python3 -m http.server 8000"), "", "http.server"},
		{"python3", a("python3 -c import\x20gunicorn"), "", "python3"},
	} {
		p := Proc{Comm: tc.comm, Cmdline: tc.argv, Exe: tc.exe}
		if got := procName(p); got != tc.want {
			t.Errorf("procName(%q, %q) = %q; want %q", tc.comm, tc.argv, got, tc.want)
		}
	}
}

// a splits on spaces: argv without quoting.
func a(s string) []string { return strings.Split(s, " ") }

// A process that rewrote its command line into one string: its words, read
// with the shell's quoting.
func TestWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`uwsgi --ini "/etc/my apps/a.ini"`, []string{"uwsgi", "--ini", "/etc/my apps/a.ini"}},
		{`gunicorn --name 'my api'  app:app`, []string{"gunicorn", "--name", "my api", "app:app"}},
		{`a\ b "c\"d" 'e\f' "g\h"`, []string{"a b", `c"d`, `e\f`, `g\h`}},
		{`x "unterminated`, []string{"x", "unterminated"}},
		{`x '' y`, []string{"x", "", "y"}},
		{"tab\tsep ", []string{"tab", "sep"}},
		{`trailing\`, []string{`trailing\`}}, // one word, no space: kept as it is
		{`end \`, []string{"end", `\`}},
	} {
		if got := words([]string{tc.in}); !slices.Equal(got, tc.want) {
			t.Errorf("words(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	if got := words([]string{"a b", "c"}); !slices.Equal(got, []string{"a b", "c"}) {
		t.Errorf("argv of two words was split again: %q", got)
	}
}

func TestScanArgs(t *testing.T) {
	flags := []string{"-D", "--reload"}
	for _, tc := range []struct {
		args string
		want []option
	}{
		{"-n name app", []option{{"-n", "name", true}, {"", "app", true}}},
		{"-nname --name=x --name= --reload y", []option{{"-n", "name", true}, {"--name", "x", true}, {"--name", "", true}, {"--reload", "", true}, {"", "y", true}}},
		{"-Dn v", []option{{"-D", "", true}, {"-n", "v", true}}},
		{"--log - app", []option{{"--log", "-", true}, {"", "app", true}}},
		{"-n --reload", []option{{"-n", "", false}, {"--reload", "", true}}},
		{"-n", []option{{"-n", "", false}}},
		{"-- -n x", []option{{"", "-n", true}, {"", "x", true}}},
		{"- app", []option{{"", "-", true}, {"", "app", true}}},
	} {
		if got := scanArgs(a(tc.args), flags); !slices.Equal(got, tc.want) {
			t.Errorf("scanArgs(%q) = %+v; want %+v", tc.args, got, tc.want)
		}
	}
}
