package service

import (
	"slices"
	"strings"
)

// appName is the app an app server process serves (uwsgi, gunicorn,
// celery, uvicorn, hypercorn), so that two of them on one host are two
// services: "" when p is no app server or its command line names no app.
func appName(p Proc) string {
	if len(p.Cmdline) == 0 {
		return ""
	}
	first := p.Cmdline[0]
	if i := strings.IndexAny(first, " \t"); i >= 0 && len(p.Cmdline) == 1 {
		first = first[:i] // rewritten into one string: its first word
	}
	switch prog := base(first); {
	case isUwsgi(prog) || isPython(prog) || slices.Contains(appServers, prog):
	case isUwsgi(p.Comm) || isUwsgi(base(strings.TrimSuffix(p.Exe, " (deleted)"))):
		// uwsgi replaced its command line with its process name.
		return uwsgiTitle(strings.Join(p.Cmdline, " "))
	case strings.HasPrefix(p.Cmdline[0], "gunicorn: "):
		return gunicornTitle(p.Cmdline[0])
	default:
		return "" // most processes: no need to read their arguments
	}
	args := words(p.Cmdline)
	if len(args) == 0 {
		return ""
	}
	prog, rest := base(args[0]), args[1:]
	if isPython(prog) { // python3 /usr/bin/gunicorn ..., python3 -m celery ...
		s := scriptArg(rest, pythonArgs)
		prog, rest = s.name, s.args
	}
	switch prog {
	case "gunicorn":
		return gunicornName(rest)
	case "celery":
		return celeryName(rest)
	case "uvicorn":
		return firstApp(scanArgs(rest, uvicornFlags))
	case "hypercorn":
		return firstApp(scanArgs(rest, hypercornFlags))
	}
	if isUwsgi(prog) {
		return uwsgiName(rest)
	}
	return ""
}

var appServers = []string{"gunicorn", "celery", "uvicorn", "hypercorn"}

// isEmperor recognises uwsgi's emperor (uwsgi --emperor DIR), which runs
// other uwsgi masters, its vassals, as a service manager would.
func isEmperor(p Proc) bool {
	if !isUwsgi(p.Comm) && (len(p.Cmdline) == 0 || !isUwsgi(base(p.Cmdline[0]))) {
		return false
	}
	if len(p.Cmdline) == 1 { // its process name: "uWSGI Emperor"
		return strings.Contains(p.Cmdline[0], "uWSGI Emperor")
	}
	return slices.ContainsFunc(p.Cmdline[1:], func(a string) bool {
		return a == "--emperor" || strings.HasPrefix(a, "--emperor=")
	})
}

// isUwsgi recognises uwsgi's binaries: uwsgi, uwsgi-core, uwsgi_python3.
func isUwsgi(name string) bool {
	return name == "uwsgi" || name == "uwsgi-core" || strings.HasPrefix(name, "uwsgi_")
}

// option is one option of a command line ("-n", "--name"), or an operand
// (name ""). ok is false for an option whose value is missing.
type option struct {
	name, value string
	ok          bool
}

// scanArgs reads args getopt-style. Options in flags take no value; any
// other takes the rest of its word (-w2, --workers=2) or else the next word,
// unless that word is an option itself ("-" alone is a value: stdout).
// "--" ends the options.
func scanArgs(args, flags []string) []option {
	var out []option
	next := func(i int) (string, bool) {
		if i+1 < len(args) && !(len(args[i+1]) > 1 && args[i+1][0] == '-') {
			return args[i+1], true
		}
		return "", false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			for _, o := range args[i+1:] {
				out = append(out, option{value: o, ok: true})
			}
			return out
		case len(a) < 2 || a[0] != '-':
			out = append(out, option{value: a, ok: true})
		case a[1] == '-':
			name, v, ok := strings.Cut(a, "=")
			if !ok && !slices.Contains(flags, name) {
				if v, ok = next(i); ok {
					i++
				}
			}
			out = append(out, option{name, v, ok || slices.Contains(flags, name)})
		default:
			for j := 1; j < len(a); j++ {
				name := "-" + a[j:j+1]
				if slices.Contains(flags, name) {
					out = append(out, option{name: name, ok: true})
					continue
				}
				v, ok := a[j+1:], j+1 < len(a)
				if !ok {
					if v, ok = next(i); ok {
						i++
					}
				}
				out = append(out, option{name, strings.TrimPrefix(v, "="), ok})
				break
			}
		}
	}
	return out
}

// value is the value of the first of names given one, "" if none is.
func value(opts []option, names ...string) string {
	for _, o := range opts {
		if o.name != "" && o.ok && o.value != "" && slices.Contains(names, o.name) {
			return o.value
		}
	}
	return ""
}

// firstApp is the module of the first operand: "nova.wsgi.api:application"
// gives "nova.wsgi.api".
func firstApp(opts []option) string {
	for _, o := range opts {
		if o.name == "" {
			return module(o.value)
		}
	}
	return ""
}

// module is a Python app reference's module: the text before the ':'.
func module(ref string) string {
	m, _, _ := strings.Cut(ref, ":")
	return strings.TrimSpace(m)
}

// uwsgiFlags are the common uwsgi options that take no value.
var uwsgiFlags = []string{
	"-M", "--master", "-T", "--enable-threads", "--vacuum", "--die-on-term", "--lazy-apps", "--lazy",
	"--thunder-lock", "--no-orphans", "--strict", "--need-app", "-i", "--single-interpreter",
	"--auto-procname", "-m", "--memory-report", "-r", "--reaper", "-L", "--disable-logging",
	"--log-master", "--harakiri-verbose", "--no-default-app", "-h", "--help", "--version",
}

// uwsgiConfig are the options loading a config file.
var uwsgiConfig = []string{"--ini", "-y", "--yaml", "--yml", "-j", "--json", "--js", "-x", "--xml", "--xmlconfig"}

// uwsgiName names a uwsgi process from its arguments: its process name
// when it sets one (uwsgi then replaces its command line with it, and both
// readings must agree), else its config file, else its app.
func uwsgiName(args []string) string {
	opts := scanArgs(args, uwsgiFlags)
	if n := value(opts, "--procname-master", "--procname"); n != "" {
		return n
	}
	if n := value(opts, "--procname-prefix", "--procname-prefix-spaced"); n != "" {
		return strings.TrimSpace(n)
	}
	for _, o := range opts {
		switch {
		case o.name == "" && configExt(o.value) != "", slices.Contains(uwsgiConfig, o.name):
			if n := configName(o.value); n != "" {
				return n
			}
		}
	}
	if m := value(opts, "-w", "--module", "--wsgi"); m != "" {
		return module(m)
	}
	if f := value(opts, "--wsgi-file", "--file", "--psgi", "--rack"); f != "" {
		return base(f)
	}
	if m := value(opts, "--mount"); m != "" {
		_, app, ok := strings.Cut(m, "=") // /mountpoint=app
		if !ok {
			app = m
		}
		if strings.Contains(app, "/") || strings.HasSuffix(app, ".py") {
			return base(app)
		}
		return module(app)
	}
	return ""
}

// uwsgiTitle names uwsgi by the process name it set: "nova-apiuWSGI master"
// (--procname-prefix nova-api) gives "nova-api"; uwsgi's own "uWSGI
// worker 1" gives "" (the comm names it).
func uwsgiTitle(title string) string {
	if i := strings.Index(title, "uWSGI"); i >= 0 {
		title = title[:i]
	}
	return strings.TrimSpace(title)
}

// configExt is the config format of a uwsgi config file name ("ini" for
// "app.ini" and "app.ini:section"), "" for another file.
func configExt(f string) string {
	b := base(f)
	i := strings.LastIndexByte(b, '.')
	if i < 0 {
		return ""
	}
	ext, _, _ := strings.Cut(b[i+1:], ":")
	switch ext = strings.ToLower(ext); ext {
	case "ini", "yaml", "yml", "json", "js", "xml":
		return ext
	}
	return ""
}

// configName is a config file's base name without its extension:
// "/etc/nova/nova-api-uwsgi.ini" gives "nova-api-uwsgi", and
// "app.ini:section" "app:section".
func configName(f string) string {
	b := base(f)
	if configExt(b) == "" {
		return b
	}
	i := strings.LastIndexByte(b, '.')
	if _, section, ok := strings.Cut(b[i+1:], ":"); ok && section != "" {
		return b[:i] + ":" + section
	}
	return b[:i]
}

// gunicornFlags are gunicorn's options that take no value.
var gunicornFlags = []string{
	"-D", "--daemon", "-R", "--enable-stdio-inheritance", "--reload", "--spew", "--check-config",
	"--print-config", "--preload", "--no-sendfile", "--reuse-port", "--initgroups", "--capture-output",
	"--log-syslog", "--disable-redirect-access-to-syslog", "--proxy-protocol", "--suppress-ragged-eofs",
	"--do-handshake-on-connect", "--strip-header-spaces", "--permit-unconventional-http-method",
	"--permit-unconventional-http-version", "--casefold-http-method", "--tolerate-dangerous-framing",
	"-v", "--version", "-h", "--help",
}

// gunicornName: the name given with --name, else the app module, else the
// paste config.
func gunicornName(args []string) string {
	opts := scanArgs(args, gunicornFlags)
	if n := value(opts, "-n", "--name"); n != "" {
		return n
	}
	if m := firstApp(opts); m != "" {
		return m
	}
	if f := value(opts, "--paste", "--paster"); f != "" {
		return configName(f)
	}
	return ""
}

// gunicornTitle reads the process title gunicorn sets when setproctitle is
// installed: "gunicorn: master [NAME]", NAME being --name or the app.
func gunicornTitle(title string) string {
	i, j := strings.IndexByte(title, '['), strings.LastIndexByte(title, ']')
	if i < 0 || j < i {
		return ""
	}
	return module(title[i+1 : j])
}

// celeryFlags are common celery options that take no value.
var celeryFlags = []string{
	"-B", "--beat", "-E", "--task-events", "--detach", "--purge", "--discard", "--without-gossip",
	"--without-mingle", "--without-heartbeat", "-q", "--quiet", "--no-color", "--skip-checks",
	"-D", "--help", "--version",
}

// celeryName is the app (-A) and, for a worker, its node name (-n
// w1@%h gives w1): "proj:w1".
func celeryName(args []string) string {
	opts := scanArgs(args, celeryFlags)
	app := module(value(opts, "-A", "--app"))
	node, _, _ := strings.Cut(value(opts, "-n", "--hostname"), "@")
	switch {
	case app == "":
		return node
	case node == "":
		return app
	}
	return app + ":" + node
}

var uvicornFlags = []string{
	"--reload", "--factory", "--use-colors", "--no-use-colors", "--access-log", "--no-access-log",
	"--proxy-headers", "--no-proxy-headers", "--server-header", "--no-server-header",
	"--date-header", "--no-date-header", "--version", "--help",
}

var hypercornFlags = []string{"--debug", "--reload", "--verbose", "-h", "--help", "--version"}

// words is argv, or the words of a command line a process rewrote into one
// string, read as a shell would ('a b' and "a b" are one word).
func words(argv []string) []string {
	if len(argv) != 1 || !strings.ContainsAny(argv[0], " \t") {
		return argv
	}
	var out []string
	var w strings.Builder
	in, quote := false, byte(0)
	s := argv[0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c != '\'', quote == '"' && c != '"' && c != '\\':
			w.WriteByte(c)
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\' && i+1 < len(s) && (quote == 0 || s[i+1] == '"' || s[i+1] == '\\'):
			i++
			w.WriteByte(s[i])
			in = true
		case quote == 0 && (c == '\'' || c == '"'):
			quote, in = c, true
		case quote == 0 && (c == ' ' || c == '\t'):
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}
