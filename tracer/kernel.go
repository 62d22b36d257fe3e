package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

const (
	tracefsDir   = "/sys/kernel/tracing"
	debugTracefs = "/sys/kernel/debug/tracing"
	capDacOver   = 1
	capDacSearch = 2
	capSysAdmin  = 21
	capPerfmon   = 38
	capBPF       = 39
	tracefsMagic = 0x74726163
)

// ErrPrivileges is returned when the process may not load BPF programs.
var ErrPrivileges = errors.New("oomtrace needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE on kernels before 5.11)")

// CheckPrivileges says in one line what a user other than root lacks: the
// capabilities to load BPF programs, and those to reach tracefs, through
// which the tracepoints are attached.
func CheckPrivileges() error { return checkCaps(true) }

// checkBPFCaps: root, or the capabilities to load and attach BPF programs.
func checkBPFCaps() error { return checkCaps(false) }

// checkCaps reads the effective capabilities once for both questions.
func checkCaps(tracefs bool) error {
	if os.Geteuid() == 0 {
		return nil
	}
	eff, err := effectiveCaps()
	if err != nil {
		return ErrPrivileges
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if !has(capSysAdmin) && !(has(capBPF) && has(capPerfmon)) {
		return ErrPrivileges
	}
	if !tracefs {
		return nil
	}
	return tracefsAccess(has)
}

// tracefsAccess: tracefs is root's alone (drwx------), so another user
// needs CAP_DAC_READ_SEARCH to read a tracepoint's id, and CAP_SYS_ADMIN to
// mount tracefs where nothing has.
func tracefsAccess(has func(uint) bool) error {
	var missing []string
	if dir, ok := TracefsMounted(); ok {
		if _, err := os.ReadFile(dir + "/events/syscalls/sys_exit_mmap/id"); errors.Is(err, os.ErrPermission) {
			missing = append(missing, "CAP_DAC_READ_SEARCH (to read tracefs at "+dir+")")
		}
	} else {
		if !has(capSysAdmin) {
			missing = append(missing, "CAP_SYS_ADMIN (to mount tracefs at "+tracefsDir+")")
		}
		if !has(capDacSearch) && !has(capDacOver) {
			missing = append(missing, "CAP_DAC_READ_SEARCH (to read tracefs)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("oomtrace needs root, or besides CAP_BPF + CAP_PERFMON: %s", strings.Join(missing, " + "))
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// checkKernel fails with one line naming what the kernel lacks.
func checkKernel() error {
	if _, err := btf.LoadKernelSpec(); err != nil {
		return fmt.Errorf("kernel BTF is required (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y): %v", err)
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("BPF ring buffers are required (Linux 5.8 or later): %v", err)
	}
	if err := ensureTracefs(); err != nil {
		return err
	}
	return nil
}

// TracefsMounted reports whether tracefs is reachable, and where.
func TracefsMounted() (string, bool) {
	for _, dir := range []string{tracefsDir, debugTracefs} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == tracefsMagic {
			return dir, true
		}
	}
	return "", false
}

// ensureTracefs mounts tracefs at /sys/kernel/tracing when nothing provides it;
// the syscall tracepoints are found through it.
func ensureTracefs() error {
	if _, ok := TracefsMounted(); ok {
		return nil
	}
	if err := unix.Mount("nodev", tracefsDir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it at %s failed: %v", tracefsDir, err)
	}
	return nil
}

// markVictimOffsets reads the oom/mark_victim format file for the tracepoint
// fallback; fields this kernel lacks stay at -1.
func markVictimOffsets() (map[string]any, error) {
	dir, ok := TracefsMounted()
	if !ok {
		return nil, errors.New("tracefs not mounted")
	}
	raw, err := os.ReadFile(dir + "/events/oom/mark_victim/format")
	if err != nil {
		return nil, err
	}
	fields := parseFormat(string(raw))
	vars := map[string]any{}
	for name, v := range map[string]string{
		"pid": oomVarTpOffPid, "comm": oomVarTpOffComm, "total_vm": oomVarTpOffTotalVm,
		"anon_rss": oomVarTpOffAnonRss, "file_rss": oomVarTpOffFileRss, "shmem_rss": oomVarTpOffShmemRss,
		"uid": oomVarTpOffUid, "pgtables": oomVarTpOffPgtables, "oom_score_adj": oomVarTpOffOomScoreAdj,
	} {
		off, ok := fields[name]
		if !ok {
			off = -1
		}
		vars[v] = int32(off)
	}
	if _, ok := fields["pid"]; !ok {
		return nil, errors.New("mark_victim format has no pid field")
	}
	return vars, nil
}

// parseFormat maps field names to offsets from a tracefs format file.
func parseFormat(s string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		decl, rest, ok := strings.Cut(line, ";")
		decl, found := strings.CutPrefix(decl, "field:")
		if !ok || !found {
			continue
		}
		name := decl[strings.LastIndexAny(decl, " \t*")+1:]
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
		for _, kv := range strings.Split(rest, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "offset:"); ok {
				if n, err := strconv.Atoi(v); err == nil && name != "" {
					out[name] = n
				}
			}
		}
	}
	return out
}

func newClock() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{offset: time.Now().UnixNano() - ts.Nano()}
}

// VerifierLog is the verifier's whole log, when err carries one.
func VerifierLog(err error) (string, bool) {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return "", false
	}
	return fmt.Sprintf("%+v", ve), true
}

// exitHasGroupDead is 1 where tp_btf/sched_process_exit has its group_dead
// argument (6.16 on), which says which thread ended the group; else 0.
func exitHasGroupDead(cache *btf.Cache) (uint64, error) {
	spec, err := cache.Kernel()
	if err != nil {
		return 0, fmt.Errorf("kernel BTF: %w", err)
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_sched_process_exit", &td); err != nil {
		return 0, fmt.Errorf("kernel BTF: sched_process_exit: %w", err)
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return 0, fmt.Errorf("kernel BTF: btf_trace_sched_process_exit is %s, not a function pointer", td.Type)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return 0, fmt.Errorf("kernel BTF: btf_trace_sched_process_exit points to %s, not a function", ptr.Target)
	}
	// (void *, struct task_struct *[, bool group_dead])
	if len(proto.Params) < 3 {
		return 0, nil
	}
	if i, ok := btf.UnderlyingType(proto.Params[2].Type).(*btf.Int); !ok || i.Encoding != btf.Bool {
		return 0, fmt.Errorf("kernel BTF: sched_process_exit's second argument is %s, not bool group_dead", proto.Params[2].Type)
	}
	return 1, nil
}
