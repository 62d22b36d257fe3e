package service

import (
	"slices"
	"strings"
)

const maxDepth = 64

// launchers start other programs without being their service: a process
// whose parent is one of these is its own root.
var launchers = []string{
	"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "ash", "csh", "tcsh", "busybox",
	"screen", "SCREEN", "sudo", "doas", "su", "runuser", "login", "setsid",
	"init", "systemd", "runc", "crun", "conmon", "tini", "dumb-init", "docker-init", "catatonit",
	"supervisord", "runsv", "s6-supervise",
	"make", "go", "env", "timeout", "nohup", "xargs",
	// Wrappers that fork the command and wait for it.
	"flock", "time", "script", "watch", "parallel", "unshare", "nsenter", "strace", "ltrace",
	"cron", "CRON", "crond", "atd",
}

// launcherPrefixes catch comms like "tmux: server", "containerd-shim"
// (truncated from containerd-shim-runc-v2) and "sshd-session".
var launcherPrefixes = []string{"tmux", "containerd-shim", "sshd"}

func isLauncher(name string) bool {
	if slices.Contains(launchers, name) {
		return true
	}
	for _, p := range launcherPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isStop reports whether climbing must not go up to parent: pid 0, 1,
// kthreadd, kernel threads, launchers (by comm or by executable, so that
// a shell script is one too) and uwsgi's emperor, whose vassals are apps of
// their own.
func isStop(parent Proc) bool {
	return parent.PID <= 2 || parent.Kernel || isLauncher(parent.Comm) ||
		isLauncher(base(strings.TrimSuffix(parent.Exe, " (deleted)"))) || isEmperor(parent)
}

// climb returns p followed by the masters above it, nearest first; the last
// is the root. A parent among launchers (pids) stops it, as isStop does.
// broken is set when p's ancestry cannot be read: its parent is missing, or
// a ppid cycle or more than maxDepth masters.
func climb(p Proc, lookup func(pid int) (Proc, bool), launchers []int) (chain []Proc, broken bool) {
	chain = []Proc{p}
	for cur := p; ; {
		if cur.PID > 0 && cur.SID == cur.PID {
			return chain, false // a session leader: do not climb past it
		}
		pp := cur.PPID
		if pp <= 2 || slices.Contains(launchers, pp) {
			return chain, false
		}
		if len(chain) > maxDepth || slices.ContainsFunc(chain, func(q Proc) bool { return q.PID == pp }) {
			return chain, true
		}
		var parent Proc
		ok := false
		if lookup != nil {
			parent, ok = lookup(pp)
		}
		if !ok {
			return chain, len(chain) == 1 // exited: stop here
		}
		parent.PID = pp
		if isStop(parent) {
			return chain, false
		}
		chain = append(chain, parent)
		cur = parent
	}
}
