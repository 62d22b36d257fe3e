package service

import (
	"strings"
	"testing"
)

func TestProcName(t *testing.T) {
	for _, tc := range []struct {
		comm, cmdline, exe, want string
	}{
		{"python3", "python3 /usr/local/bin/nova-api --config x", "", "nova-api"},
		{"nova-api", "/usr/bin/python3 /usr/bin/nova-api --config-file /etc/nova/nova.conf", "/usr/bin/python3.11", "nova-api"},
		{"python3", "python3 -m http.server 8000", "", "http.server"},
		{"python3", "python3 -mhttp.server", "", "http.server"},
		{"python3", "python3 -u -W ignore -X dev -m celery worker", "", "celery"},
		{"python3", "python3 -um celery worker", "", "celery"},
		{"python3", "python3 -c import\x20os", "", "python3"},
		{"python", "python", "", "python"},
		{"python3.11", "/usr/bin/python3.11 -- manage.py runserver", "", "manage.py"},
		{"pypy3", "pypy3 app.py", "", "app.py"},
		{"java", "java -jar /opt/app.jar --server.port=8080", "", "app.jar"},
		{"java", "java -Xmx2g -cp x:y com.foo.Main arg", "", "com.foo.Main"},
		{"java", "java -Dx=y -classpath lib/* -verbose:gc org.acme.Server", "", "org.acme.Server"},
		{"java", "java -m com.foo/com.foo.Main", "", "com.foo.Main"},
		{"java", "java --module=com.foo", "", "com.foo"},
		{"java", "java -version", "", "java"},
		{"node", "node server.js", "", "server.js"},
		{"node", "node --max-old-space-size=4096 -r dotenv/config /app/dist/main.js", "", "main.js"},
		{"node", "node -e console.log(1)", "", "node"},
		{"node", "node --eval=1", "", "node"},
		{"ruby", "ruby -Ilib -r bundler/setup bin/rails server", "", "rails"},
		{"ruby", "ruby -e puts", "", "ruby"},
		{"perl", "perl -Mstrict -w /usr/sbin/munin-node", "", "munin-node"},
		{"perl", "perl -e print", "", "perl"},
		{"php", "php artisan queue:work", "", "artisan"},
		{"php", "php -d memory_limit=1G -f /srv/cron.php", "", "cron.php"},
		{"php-fpm8.2", "php-fpm: pool www", "", "php-fpm8.2"},
		{"sh", "sh /opt/run.sh", "", "run.sh"},
		{"bash", "/bin/bash -e -o pipefail ./deploy.sh", "", "deploy.sh"},
		{"bash", "bash -c sleep\x201", "", "bash"},
		{"bash", "-bash", "", "bash"},          // login shell
		{"bash", "bash /dev/fd/3", "", "bash"}, // a script on a pipe
		{"nginx", "nginx: master process /usr/sbin/nginx", "/usr/sbin/nginx", "nginx"},
		{"", "", "/usr/bin/foo (deleted)", "foo"},
		{"", "/opt/x/bar --y", "", "bar"},
		{"", "", "", "unknown"},
		{"", "python3 /", "", "python3"},
		{"python3", "python3 " + strings.Repeat("é", 100), "", strings.Repeat("é", 32)},
		{strings.Repeat("\x81", 100), "", "", strings.Repeat("\x81", 64)}, // invalid UTF-8 is cut too
	} {
		p := Proc{Comm: tc.comm, Exe: tc.exe}
		if tc.cmdline != "" {
			p.Cmdline = strings.Split(tc.cmdline, " ")
		}
		if got := procName(p); got != tc.want {
			t.Errorf("procName(%q, %q) = %q; want %q", tc.comm, tc.cmdline, got, tc.want)
		}
	}
}
