package service

import "strings"

// scopePrefixes name the runtime of a "<prefix><64 hex>[.scope]" component.
var scopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"nerdctl-", "containerd"},
	{"crio-conmon-", "crio"},
	{"crio-", "crio"},
	{"libpod-conmon-", "podman"},
	{"libpod-payload-", "podman"},
	{"libpod-", "podman"},
}

// UnitFromCgroup returns the systemd unit (*.service or *.scope) a cgroup
// path belongs to. Units that hold whatever a user starts rather than one
// service (a login session, the per-user manager, init.scope) are not
// services: a path whose only units are these gives false, so that the
// process tree names what runs in them. A unit nested in another (a
// delegated subtree such as user@1000.service) is named "outer/inner", so
// that whoever owns the subtree cannot pass for a system unit. Paths inside a
// container give false.
func UnitFromCgroup(path string) (string, bool) {
	path = cleanCgroup(path)
	if _, ok := ContainerFromCgroup(path); ok {
		return "", false
	}
	var units []string
	for _, c := range strings.Split(path, "/") {
		if isUnit(c) {
			units = append(units, c)
		}
	}
	for i := len(units) - 1; i >= 0; i-- {
		switch {
		case !isService(units[i]):
		case i == 0:
			return units[0], true
		default:
			return units[0] + "/" + units[i], true
		}
	}
	return "", false
}

// isService reports whether the unit u is one service, not a session-3.scope
// (a login session), user@1000.service (the per-user manager, whose own
// process is in user@1000.service/init.scope) or init.scope.
func isService(u string) bool {
	if u == "init.scope" {
		return false
	}
	if id, ok := strings.CutPrefix(u, "session-"); ok && strings.HasSuffix(id, ".scope") {
		return false
	}
	if uid, ok := strings.CutPrefix(u, "user@"); ok {
		uid, ok = strings.CutSuffix(uid, ".service")
		return !ok || uid == "" || strings.Trim(uid, "0123456789") != ""
	}
	return true
}

// ContainerFromCgroup returns "runtime:shortid" (12 hex digits) for the
// innermost container in a cgroup path. The runtime is docker, containerd,
// crio or podman, or kubepods when only the cgroupfs layout tells it is
// Kubernetes. A pod's own cgroup gives "kubepods:pod" + 12 hex of its uid.
func ContainerFromCgroup(path string) (string, bool) {
	comps := strings.Split(cleanCgroup(path), "/")
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		for _, s := range scopePrefixes {
			if rest, ok := strings.CutPrefix(c, s.prefix); ok {
				if id := strings.TrimSuffix(rest, ".scope"); isFullID(id) {
					return s.runtime + ":" + id[:12], true
				}
			}
		}
		if isFullID(c) {
			if rt := bareRuntime(comps[:i]); rt != "" {
				return rt + ":" + c[:12], true
			}
		}
		if uid, ok := podUID(c); ok && inKubepods(comps[:i+1]) {
			return "kubepods:pod" + uid[:12], true
		}
	}
	return "", false
}

// bareRuntime names the runtime of a bare 64-hex component from the nearest
// ancestor that tells it; "" when none does.
func bareRuntime(ancestors []string) string {
	for i := len(ancestors) - 1; i >= 0; i-- {
		switch c := ancestors[i]; {
		case c == "docker" || c == "moby" || c == "actions_job" || c == "ecs":
			return "docker"
		case strings.Contains(c, "kubepods"):
			return "kubepods"
		}
	}
	return ""
}

func inKubepods(comps []string) bool {
	for _, c := range comps {
		if strings.Contains(c, "kubepods") {
			return true
		}
	}
	return false
}

// podUID finds the uid in "pod<uid>" (cgroupfs) or
// "kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd): 32 hex digits
// once '-' and '_' are dropped.
func podUID(c string) (string, bool) {
	c = strings.TrimSuffix(c, ".slice")
	i := strings.LastIndex(c, "pod")
	if i < 0 || i > 0 && c[i-1] != '-' {
		return "", false
	}
	var b strings.Builder
	for _, r := range c[i+3:] {
		switch {
		case r == '-' || r == '_':
		case isHex(r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != 32 {
		return "", false
	}
	return b.String(), true
}

// isUnit reports whether c is a valid systemd service or scope name.
func isUnit(c string) bool {
	stem, ok := strings.CutSuffix(c, ".service")
	if !ok {
		stem, ok = strings.CutSuffix(c, ".scope")
	}
	if !ok || stem == "" || len(c) > 255 {
		return false
	}
	for _, r := range stem {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_.-@\\", r)) {
			return false
		}
	}
	return true
}

// isFullID reports whether s is a 64-hex container id.
func isFullID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !isHex(r) {
			return false
		}
	}
	return true
}

func isHex(r rune) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' }

// cleanCgroup drops the " (deleted)" the kernel appends to a removed cgroup,
// and a "N:controllers:" prefix if given a whole /proc/PID/cgroup line.
func cleanCgroup(p string) string {
	p = strings.TrimSuffix(p, " (deleted)")
	if strings.HasPrefix(p, "/") {
		return p
	}
	if i := strings.IndexByte(p, ':'); i > 0 && strings.Trim(p[:i], "0123456789") == "" {
		if j := strings.IndexByte(p[i+1:], ':'); j >= 0 && strings.HasPrefix(p[i+1+j+1:], "/") {
			return p[i+1+j+1:]
		}
	}
	return p
}
