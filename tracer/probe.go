package tracer

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// Check is one answer of the kernel feature probe.
type Check struct {
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Need      bool   `json:"required"`            // oomtrace cannot run without it
	Unchecked bool   `json:"unchecked,omitempty"` // could not be asked (see Detail)
	Detail    string `json:"detail"`
}

// NotChecked is the detail of a check that needs BPF privileges we lack.
const NotChecked = "not checked: needs root or CAP_BPF"

// Probe asks the kernel what oomtrace can use. It loads and attaches only
// trivial programs, and detaches them at once. Without the privileges to
// load BPF programs, the checks that would load one are left unchecked: the
// kernel's EPERM would say nothing about its features.
func Probe() []Check {
	_ = rlimit.RemoveMemlock() // so a refusal names its real cause
	var out []Check
	add := func(name string, need bool, err error, ok, fail string) {
		c := Check{Name: name, OK: err == nil, Need: need, Detail: ok}
		if err != nil {
			c.Detail = fmt.Sprintf("%s: %v", fail, safe.FirstLine(err.Error()))
		}
		out = append(out, c)
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	out = append(out, Check{Name: "kernel", OK: true, Detail: unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])})
	add("privileges", true, CheckPrivileges(), "root or CAP_BPF+CAP_PERFMON", "missing")
	bpfOK := checkBPFCaps() == nil
	probe := func(name string, need bool, f func() error, ok, fail string) {
		if !bpfOK {
			out = append(out, Check{Name: name, Need: need, Unchecked: true, Detail: NotChecked})
			return
		}
		add(name, need, f(), ok, fail)
	}
	_, err := btf.LoadKernelSpec()
	add("btf", true, err, "/sys/kernel/btf/vmlinux", "no kernel BTF (CONFIG_DEBUG_INFO_BTF)")
	probe("ringbuf", true, func() error { return features.HaveMapType(ebpf.RingBuf) }, "BPF ring buffer", "no BPF ring buffer (needs 5.8)")
	probe("task_storage", true, func() error { return features.HaveMapType(ebpf.TaskStorage) }, "task local storage (counters of processes without a slot)", "no task storage (needs 5.11)")
	if dir, ok := TracefsMounted(); ok {
		add("tracefs", false, nil, "mounted at "+dir, "")
	} else {
		add("tracefs", false, errors.New("not mounted"), "", "oomtrace mounts it at "+tracefsDir+" when it starts")
	}
	probe("fentry", false, probeFentry, "permitted: the syscall hooks use fexit", "unavailable, the syscall hooks use tracepoints")
	probe("kprobe", false, probeKprobe, "available (not needed: tracepoints or fexit carry every hook)", "unavailable (not needed)")
	return out
}

func trivial(pt ebpf.ProgramType, at ebpf.AttachType, to string) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: pt, AttachType: at, AttachTo: to, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
}

func probeFentry() error {
	// bpf_fentry_test1 exists for this purpose; syscall wrappers may lack BTF.
	prog, err := trivial(ebpf.Tracing, ebpf.AttachTraceFEntry, "bpf_fentry_test1")
	if errors.Is(err, unix.EPERM) {
		return errors.New("the kernel refuses fentry programs (EPERM)")
	}
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return err
	}
	return l.Close()
}

func probeKprobe() error {
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe"); err != nil {
		return errors.New("kernel built without kprobes")
	}
	prog, err := trivial(ebpf.Kprobe, ebpf.AttachNone, "")
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.Kprobe("__x64_sys_getppid", prog, nil)
	if err != nil {
		return err
	}
	return l.Close()
}

// Sampling says how Processes reads every process (SamplerWalk,
// SamplerIter or SamplerProc) and why not by a better way.
type Sampling struct{ Mode, Why string }

// LoadOnly loads every program without attaching and reports the hooks and
// mechanisms chosen, and how processes would be sampled, for `oomtrace doctor`.
func LoadOnly(cfg Config) ([]Hook, Sampling, error) {
	cfg.defaults()
	if err := prepare(); err != nil {
		return nil, Sampling{}, err
	}
	objs, hooks, err := load(cfg)
	if err != nil {
		return nil, Sampling{}, err
	}
	defer objs.Close()
	var s sampler
	defer s.close()
	mode, err := s.setup(cfg, objs.shared, objs.cache, objs.sampler)
	smp := Sampling{Mode: mode}
	if err != nil {
		smp.Why = safe.FirstLine(err.Error())
	}
	return hooks, smp, nil
}
