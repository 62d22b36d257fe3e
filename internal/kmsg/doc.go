// Package kmsg follows /dev/kmsg and assembles the kernel's own OOM-kill
// reports (the "invoked oom-killer", "oom-kill:" and "Killed process" lines).
package kmsg
