package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/python"
	"github.com/oomtrace/oomtrace/tracer"
	"golang.org/x/sys/unix"
)

func init() {
	register(command{name: "doctor", summary: "check what this kernel and machine give oomtrace", run: cmdDoctor})
}

const doctorExamples = `  sudo oomtrace doctor
  sudo oomtrace doctor --json
`

func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", "doctor [flags]", doctorExamples, stdout)
	jsonOut := fs.Bool("json", false, "print the checks as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	checks := doctorChecks()
	var missing []string
	for _, c := range checks {
		if c.Need && !c.OK && !c.Unchecked {
			missing = append(missing, c.Name)
		}
	}
	if *jsonOut {
		out := struct {
			CanRun bool           `json:"can_run"`
			Checks []tracer.Check `json:"checks"`
		}{len(missing) == 0, checks}
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "ok  "
			switch {
			case c.Unchecked:
				mark = "?   "
			case !c.OK && c.Need:
				mark = "FAIL"
			case !c.OK:
				mark = "--  "
			}
			fmt.Fprintf(stdout, "%s  %-32s %s\n", mark, c.Name, c.Detail)
		}
		if len(missing) == 0 {
			fmt.Fprintln(stdout, "oomtrace can run on this machine.")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("oomtrace cannot run here: %s", strings.Join(missing, ", "))
	}
	return nil
}

func doctorChecks() []tracer.Check {
	checks := tracer.Probe()
	var cannot []string // what keeps the programs from loading
	unprivileged := false
	for _, c := range checks {
		if c.Need && !c.OK && !c.Unchecked {
			cannot = append(cannot, c.Name)
		}
		unprivileged = unprivileged || c.Unchecked
	}
	if len(cannot) > 0 {
		why := tracer.NotChecked
		if !unprivileged {
			why = "not checked: cannot load (" + strings.Join(cannot, ", ") + ")"
		}
		for _, name := range tracer.HookNames() {
			checks = append(checks, tracer.Check{Name: "hook " + name, Need: true, Unchecked: true, Detail: why})
		}
		checks = append(checks, tracer.Check{Name: "sampling", Unchecked: true, Detail: why})
	} else {
		hooks, smp, err := tracer.LoadOnly(tracer.Config{})
		if err != nil {
			checks = append(checks, tracer.Check{Name: "load", Need: true, Detail: oneLine(err)})
		}
		for _, h := range hooks {
			d := h.Mechanism
			if h.Fallback != "" {
				d += " (fell back: " + h.Fallback + ")"
			}
			checks = append(checks, tracer.Check{Name: "hook " + h.Name, OK: true, Need: true, Detail: d})
		}
		if err == nil {
			c := tracer.Check{Name: "sampling", OK: smp.Mode == tracer.SamplerWalk, Detail: "every process in one pass: " + smp.Mode}
			switch smp.Mode {
			case tracer.SamplerIter:
				c.Detail += " (one program run per task; the task walk needs 6.7: " + smp.Why + ")"
			case tracer.SamplerProc:
				c.Detail = "/proc read per process (" + smp.Why + ")"
			}
			checks = append(checks, c)
		}
	}
	if h, err := cgroup.Detect(); err != nil {
		checks = append(checks, tracer.Check{Name: "cgroup", Detail: err.Error() + ": no memory cgroup figures"})
	} else {
		checks = append(checks, tracer.Check{Name: "cgroup", OK: true, Detail: fmt.Sprintf("v%d, memory controller at %s", h.Version, h.Mount)})
	}
	checks = append(checks, tracer.Check{Name: "python frames", OK: true,
		Detail: "CPython " + strings.Join(python.Supported(), ", ") + "; other versions give native frames only"})
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		checks = append(checks, tracer.Check{Name: "psi", Detail: "no /proc/pressure/memory: no memory pressure figures"})
	} else {
		checks = append(checks, tracer.Check{Name: "psi", OK: true, Detail: "/proc/pressure/memory"})
	}
	if f, err := os.Open("/dev/kmsg"); err != nil {
		checks = append(checks, tracer.Check{Name: "kmsg", Detail: fmt.Sprintf("%v: dumps will lack the kernel's constraint and memcgs", err)})
	} else {
		f.Close()
		checks = append(checks, tracer.Check{Name: "kmsg", OK: true, Detail: "/dev/kmsg readable: OOM reports are joined"})
	}
	checks = append(checks, oomProtectCheck())
	return checks
}

// oomProtectCheck: lowering oom_score_adj needs CAP_SYS_RESOURCE.
func oomProtectCheck() tracer.Check {
	c := tracer.Check{Name: "oom_score_adj"}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		c.Detail = err.Error()
		return c
	}
	if data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) == 0 {
		c.Detail = "no CAP_SYS_RESOURCE: the recorder cannot set oom_score_adj -1000 and may be OOM-killed"
		return c
	}
	c.OK, c.Detail = true, "the recorder protects itself with oom_score_adj -1000"
	return c
}
