package service

import (
	"slices"
	"strings"
	"unicode/utf8"
)

const maxName = 64 // bytes; argv is untrusted and may be huge

// procName names a process: the app of an app server, the script, module,
// jar or main class of an interpreter, else its comm.
func procName(p Proc) string {
	if n := appName(p); n != "" {
		return clip(n)
	}
	if len(p.Cmdline) > 0 {
		if n := scriptName(base(p.Cmdline[0]), p.Cmdline[1:]); n != "" {
			return clip(n)
		}
	}
	if p.Comm != "" {
		return clip(p.Comm)
	}
	for _, n := range []string{first(p.Cmdline), strings.TrimSuffix(p.Exe, " (deleted)")} {
		if n = base(n); n != "" {
			return clip(n)
		}
	}
	return "unknown"
}

// argSpec describes an interpreter's options.
type argSpec struct {
	inline  string   // short options giving the code inline (no script): -c, -e
	module  string   // short options whose argument is the name: python -m, php -f
	withArg string   // other short options taking an argument
	longArg []string // long options taking the next argument
	noName  []string // long options giving the code inline
}

var (
	pythonArgs = argSpec{inline: "c", module: "m", withArg: "WX", longArg: []string{"--check-hash-based-pycs"}}
	nodeArgs   = argSpec{inline: "ep", withArg: "rC", longArg: []string{"--require", "--import", "--loader", "--experimental-loader", "--input-type", "--title", "--conditions"}, noName: []string{"--eval", "--print"}}
	rubyArgs   = argSpec{inline: "e", withArg: "IrCE"}
	perlArgs   = argSpec{inline: "eE", withArg: "IMm"}
	phpArgs    = argSpec{inline: "rBRE", module: "f", withArg: "dcz"}
	shellArgs  = argSpec{inline: "cs", withArg: "oO", longArg: []string{"--rcfile", "--init-file"}}
)

// scriptName is the name an interpreter runs, or "" if argv0 is not an
// interpreter or runs no named script.
func scriptName(argv0 string, args []string) string {
	switch {
	case argv0 == "java":
		return javaMain(args)
	case argv0 == "node" || argv0 == "nodejs":
		return scriptArg(args, nodeArgs).name
	case isPython(argv0):
		return scriptArg(args, pythonArgs).name
	case versioned(argv0, "ruby"):
		return scriptArg(args, rubyArgs).name
	case versioned(argv0, "perl"):
		return scriptArg(args, perlArgs).name
	case versioned(argv0, "php"):
		return scriptArg(args, phpArgs).name
	case slices.Contains([]string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish"}, argv0):
		return scriptArg(args, shellArgs).name
	}
	return ""
}

func isPython(argv0 string) bool { return versioned(argv0, "python") || versioned(argv0, "pypy") }

// versioned reports whether name is prefix followed by a version: "python3.11".
func versioned(name, prefix string) bool {
	v, ok := strings.CutPrefix(name, prefix)
	return ok && strings.Trim(v, "0123456789.") == ""
}

// script is the script or module an interpreter runs, and the arguments
// given to it.
type script struct {
	name string
	args []string
}

// scriptArg skips options getopt-style and returns the first operand's base name.
func scriptArg(args []string, s argSpec) script {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return script{base(args[i+1]), args[i+2:]}
			}
			return script{}
		case a == "-" || a == "":
			return script{} // stdin
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a, "=")
			if slices.Contains(s.noName, name) {
				return script{}
			}
			if !hasValue && slices.Contains(s.longArg, name) {
				i++
			}
			continue
		case a[0] != '-' && a[0] != '+':
			if strings.HasPrefix(a, "/dev/fd/") || strings.HasPrefix(a, "/proc/self/fd/") {
				return script{} // a script on a pipe has no name of its own
			}
			return script{base(a), args[i+1:]}
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch {
			case strings.IndexByte(s.inline, c) >= 0:
				return script{}
			case strings.IndexByte(s.module, c) >= 0:
				if j+1 < len(a) {
					return script{base(a[j+1:]), args[i+1:]}
				}
				if i+1 < len(args) {
					return script{base(args[i+1]), args[i+2:]}
				}
				return script{}
			case strings.IndexByte(s.withArg, c) >= 0:
				if j+1 == len(a) {
					i++
				}
				j = len(a)
			}
		}
	}
	return script{}
}

// javaArg are java options taking the next argument.
var javaArg = []string{"-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path",
	"--add-modules", "--limit-modules", "--add-exports", "--add-opens", "--add-reads", "--patch-module",
	"--enable-native-access", "--source", "-d", "--describe-module"}

// javaMain returns the jar ("app.jar"), the main class, or the module's main class.
func javaMain(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-jar" || a == "-m" || a == "--module":
			if i+1 < len(args) {
				return base(args[i+1]) // "m/com.foo.Main" gives the class
			}
			return ""
		case strings.HasPrefix(a, "--module="):
			return base(a[len("--module="):])
		case slices.Contains(javaArg, a):
			i++
		case a == "" || a[0] == '-' || a[0] == '@':
		default:
			return base(a)
		}
	}
	return ""
}

// base is the last element of a path, "" for "", "/", "." and "..".
func base(s string) string {
	s = strings.TrimRight(s, "/")
	s = s[strings.LastIndexByte(s, '/')+1:]
	if s == "." || s == ".." {
		return ""
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// clip cuts s to maxName bytes at a rune boundary.
func clip(s string) string {
	if len(s) <= maxName {
		return s
	}
	for i := maxName; i > maxName-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:maxName] // not UTF-8 there

}
