package service

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// Rule gives the service Name to the processes whose Field matches Pattern.
//
// comm and cmdline patterns are unanchored regexps (use ^ and $); cmdline is
// argv joined by single spaces. exe and cgroup patterns are path.Match globs:
// with a '/' an exe glob matches the whole path, without one its base name;
// with a '/' a cgroup glob matches the path or any ancestor of it (so
// "/kubepods.slice/*" covers everything below), without one any component.
type Rule struct {
	Name    string
	Field   string // comm, cmdline, exe or cgroup
	Pattern string

	re *regexp.Regexp // comm and cmdline
}

// RuleError is a rule that does not parse.
type RuleError struct {
	Rule string
	Err  error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("invalid rule %q: %s", e.Rule, safe.EscapeControl(e.Err.Error()))
}

func (e *RuleError) Unwrap() error { return e.Err }

// NewRule checks and compiles one rule.
func NewRule(name, field, pattern string) (Rule, error) {
	r := Rule{Name: name, Field: field, Pattern: pattern}
	if err := r.compile(); err != nil {
		return Rule{}, &RuleError{Rule: r.String(), Err: err}
	}
	return r, nil
}

// ParseRule parses NAME=FIELD:PATTERN; spaces around the parts are dropped.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	name, match, ok := strings.Cut(s, "=")
	if !ok {
		return Rule{}, &RuleError{s, errors.New("missing '=' (want NAME=FIELD:PATTERN)")}
	}
	field, pattern, ok := strings.Cut(match, ":")
	if !ok {
		return Rule{}, &RuleError{s, errors.New("missing ':' (want NAME=FIELD:PATTERN)")}
	}
	r := Rule{
		Name:    strings.TrimSpace(name),
		Field:   strings.TrimSpace(field),
		Pattern: strings.TrimSpace(pattern),
	}
	if err := r.compile(); err != nil {
		return Rule{}, &RuleError{s, err}
	}
	return r, nil
}

// ParseRules reads one rule a line; blank lines and lines starting with '#'
// are skipped. Errors name source:line.
func ParseRules(rd io.Reader, source string) ([]Rule, error) {
	var rules []Rule
	sc := bufio.NewScanner(rd)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRule(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", safe.EscapeControl(source), n, err)
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %s", safe.EscapeControl(source), n+1, safe.EscapeControl(err.Error()))
	}
	return rules, nil
}

func (r *Rule) compile() error {
	switch {
	case r.Name == "":
		return errors.New("empty name")
	case strings.IndexFunc(r.Name, func(c rune) bool { return c == '=' || unicode.IsSpace(c) || !unicode.IsPrint(c) }) >= 0:
		return fmt.Errorf("name %q has a space, '=' or control character", r.Name)
	case r.Pattern == "":
		return errors.New("empty pattern")
	}
	switch r.Field {
	case "comm", "cmdline":
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return err
		}
		r.re = re
	case "exe", "cgroup":
		if _, err := path.Match(r.Pattern, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", r.Pattern, err)
		}
	default:
		return fmt.Errorf("unknown field %q (want comm, cmdline, exe or cgroup)", r.Field)
	}
	return nil
}

// Match reports whether p matches r. A Rule not made by ParseRule or
// NewRule matches nothing.
func (r Rule) Match(p Proc) bool {
	switch r.Field {
	case "comm":
		return r.re != nil && r.re.MatchString(p.Comm)
	case "cmdline":
		return r.re != nil && r.re.MatchString(strings.Join(p.Cmdline, " "))
	case "exe":
		exe := strings.TrimSuffix(p.Exe, " (deleted)")
		if exe == "" {
			return false // unknown
		}
		if !strings.Contains(r.Pattern, "/") {
			exe = exe[strings.LastIndexByte(exe, '/')+1:]
		}
		return glob(r.Pattern, exe)
	case "cgroup":
		return r.matchCgroup(cleanCgroup(p.Cgroup))
	}
	return false
}

func (r Rule) matchCgroup(cg string) bool {
	if !strings.Contains(r.Pattern, "/") {
		for _, c := range strings.Split(cg, "/") {
			if c != "" && glob(r.Pattern, c) {
				return true
			}
		}
		return false
	}
	for {
		if glob(r.Pattern, cg) {
			return true
		}
		i := strings.LastIndexByte(cg, '/')
		if i <= 0 {
			return false
		}
		cg = cg[:i]
	}
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return ok && err == nil
}

// String gives the rule back in the form ParseRule reads.
func (r Rule) String() string {
	return r.Name + "=" + r.Field + ":" + r.Pattern
}
