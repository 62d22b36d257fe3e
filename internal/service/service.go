// Package service computes the service key of a process: the name operators
// think in (a master and its workers, a systemd unit, a container) rather
// than a pid.
//
// All inputs (process names, command lines, cgroup paths) are untrusted: the
// package never panics on them, but the names it returns are raw text and
// must be escaped (internal/safe) before they reach a terminal.
package service

// Proc is what the resolver needs to know about one process.
type Proc struct {
	PID, PPID, SID int    // SID is the session id; a session leader has SID == PID
	Comm           string // /proc/PID/comm (at most 15 bytes)
	Cmdline        []string
	Exe            string // /proc/PID/exe target, may be ""
	Cgroup         string // v2 "0::" path, or the v1 name=systemd path; "/" when nothing useful
	Kernel         bool   // kernel thread
}

// Kind says where a key's name came from.
type Kind string

const (
	KindRule      Kind = "rule"      // a user rule matched the process or its master
	KindUnit      Kind = "unit"      // the systemd unit in the cgroup path
	KindContainer Kind = "container" // the container id in the cgroup path
	KindTree      Kind = "tree"      // the process tree: the master's (or its own) name
	KindComm      Kind = "comm"      // its own name: its ancestry could not be read
	KindKernel    Kind = "kernel"    // a kernel thread
)

// Key is a process's service. Name is the service; Root tells instances of
// it apart.
type Key struct {
	Name string // e.g. "nova-api", "nginx.service", "docker:3f2a1b9c0d4e", "kernel"
	Kind Kind
	Root int // pid the name was taken from: the master for KindTree and for a rule matched on it, else the process itself
}
