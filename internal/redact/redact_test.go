package redact

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nova-api --config-file /etc/nova/nova.conf", "nova-api --config-file /etc/nova/nova.conf"},
		{"mysql --password=hunter2 -u root", "mysql --password=*** -u root"},
		{"mysql --password hunter2 -u root", "mysql --password *** -u root"},
		{"app --api-key=abc --token xyz --verbose", "app --api-key=*** --token *** --verbose"},
		{"env DB_PASSWORD=s3cret AWS_SECRET_ACCESS_KEY=k python3 app.py", "env DB_PASSWORD=*** AWS_SECRET_ACCESS_KEY=*** python3 app.py"},
		{"git clone https://bob:pw@example.org/r.git", "git clone https://bob:***@example.org/r.git"},
		{"psql postgresql://user:pa55@db/x", "psql postgresql://user:***@db/x"},
		{"app --passport-photo=x.png", "app --passport-photo=x.png"},
		{"app --auth-file=/etc/x", "app --auth-file=***"},
		{"app --password", "app --password"},
		{"tar -C /tmp -xf a=b", "tar -C /tmp -xf a=b"},
		{"mysql -phunter2 -uroot nova", "mysql -p*** -uroot nova"},
		{"/usr/bin/mysqldump -p -uroot nova", "/usr/bin/mysqldump -p -uroot nova"},
		{"ssh -p2222 host", "ssh -p2222 host"},
		{"curl -u alice:s3cret https://api.example.org", "curl -u alice:*** https://api.example.org"},
		{"curl --user=alice:s3cret https://x", "curl --user=alice:*** https://x"},
		{"tar -u -f a.tar b:c", "tar -u -f a.tar b:c"},
		{"redis-server --requirepass hunter2 --port 6379", "redis-server --requirepass *** --port 6379"},
		{"java -Djavax.net.ssl.keyStorePassword=changeit -jar a.jar", "java -Djavax.net.ssl.keyStorePassword=*** -jar a.jar"},
		{"app --bypass-cache=1 --compass=n", "app --bypass-cache=1 --compass=n"},
		{"app --dbToken=t1 MYSQL_ROOT_PASSWORD=x", "app --dbToken=*** MYSQL_ROOT_PASSWORD=***"},
		{"app --pAssworD=0", "app --pAssworD=***"}, // found by FuzzArgs: camel splitting alone read "p asswor d"
		{"app --password2=x", "app --password2=***"},
	} {
		if got := Line(strings.Fields(tc.in), false); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Line([]string{"python3", "app.py", "--x"}, true); got != "python3 *** ***" {
		t.Errorf("all: %q", got)
	}
	if Args(nil, false) != nil {
		t.Error("nil argv")
	}
}

func FuzzArgs(f *testing.F) {
	f.Add("mysql\x00--password=hunter2\x00-u\x00root")
	f.Add("git\x00https://bob:pw@example.org")
	f.Fuzz(func(t *testing.T, joined string) {
		argv := strings.Split(joined, "\x00")
		out := Args(argv, false)
		if len(out) != len(argv) {
			t.Fatalf("%d args in, %d out", len(argv), len(out))
		}
		for i, a := range argv {
			if name, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "--") && strings.Contains(strings.ToLower(name), "password") && v != "" && i > 0 {
				if strings.Contains(out[i], "="+v) && v != Mask {
					t.Fatalf("password value kept: %q -> %q", a, out[i])
				}
			}
		}
		for _, a := range Args(argv, true)[1:] {
			if a != Mask {
				t.Fatalf("all kept %q", a)
			}
		}
	})
}
