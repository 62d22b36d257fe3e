package tracer

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// Hook is one attach point and how it was attached.
type Hook struct {
	Name      string // e.g. syscalls/sys_exit_mmap
	Mechanism string // tp_btf, tracepoint
	Fallback  string // why a preferred mechanism was not used, if it wasn't
	attach    func() (link.Link, error)
}

// objects are the loaded collections; maps shared between them appear once.
type objects struct {
	colls     []*ebpf.Collection
	events    *ebpf.Map
	oomEvents *ebpf.Map
	stacks    *ebpf.Map // stack samples
	stackLost *ebpf.Map
	lost      *ebpf.Map
	procs     *ebpf.Map
	slots     *ebpf.Map
	sampler   *ebpf.Program // iter/task; nil where the kernel refuses it
	shared    map[string]*ebpf.Map
	cache     *btf.Cache
}

func (o *objects) Close() error {
	for _, c := range o.colls {
		c.Close()
	}
	o.colls = nil
	return nil
}

// load loads alloc (which owns the shared maps), proc and oom, in that order.
func load(cfg Config) (*objects, []Hook, error) {
	cache := btf.NewCache()
	o := &objects{}
	fail := func(err error) (*objects, []Hook, error) {
		o.Close()
		return nil, nil, err
	}

	groupDead, err := exitHasGroupDead(cache)
	if err != nil {
		return fail(err)
	}
	alloc, hooks, err := loadSyscalls(cfg, cache)
	if err != nil {
		return fail(err)
	}
	o.colls = append(o.colls, alloc)
	o.events, o.lost, o.procs, o.slots = alloc.Maps[allocMapEvents], alloc.Maps[allocMapLost], alloc.Maps[allocMapProcs], alloc.Maps[allocMapSlots]
	o.stacks, o.stackLost = alloc.Maps[allocMapStacks], alloc.Maps[allocMapStacksLost]
	shared := map[string]*ebpf.Map{allocMapEvents: o.events, allocMapLost: o.lost, allocMapProcs: o.procs, allocMapSlots: o.slots}
	o.shared, o.cache = shared, cache

	pspec, err := loadProc()
	if err != nil {
		return fail(err)
	}
	pimm := imms(cfg, allocImmMarkerIMM_SLOT_MASK)
	pimm[allocImmMarkerIMM_GROUP_DEAD] = groupDead
	if err := fitSpec(pspec, cfg, "process lifecycle", pimm); err != nil {
		return fail(err)
	}
	if err := setVars(pspec, map[string]any{procVarWakeupBytes: cfg.WakeupBytes}); err != nil {
		return fail(err)
	}
	proc, err := ebpf.NewCollectionWithOptions(pspec, ebpf.CollectionOptions{Cache: cache, MapReplacements: shared})
	if err != nil {
		return fail(fmt.Errorf("load process lifecycle programs: %w", err))
	}
	o.colls = append(o.colls, proc)
	for _, name := range []string{"fork", "exec", "exit"} {
		hooks = append(hooks, tracingHook("sched/sched_process_"+name, "tp_btf", proc.Programs["handle_"+name], ""))
	}

	// The task iterator is the fallback of the task walk (see sample.go);
	// without either, /proc is read per process.
	if sspec, err := loadSample(); err == nil {
		if err := fitSpec(sspec, cfg, "task iterator", imms(cfg, allocImmMarkerIMM_SLOT_MASK)); err != nil {
			return fail(err)
		}
		if coll, err := ebpf.NewCollectionWithOptions(sspec, ebpf.CollectionOptions{Cache: cache, MapReplacements: shared}); err == nil {
			o.colls = append(o.colls, coll)
			o.sampler = coll.Programs[sampleProgSampleTasks]
		} else {
			cfg.Logger.Debug("task iterator unavailable", "err", safe.FirstLine(err.Error()))
		}
	}

	oom, hook, err := loadOOM(cfg, cache, shared)
	if err != nil {
		return fail(err)
	}
	o.colls = append(o.colls, oom)
	o.oomEvents = oom.Maps[oomMapOomEvents]
	hooks = append(hooks, hook)
	return o, hooks, nil
}

var syscalls = []string{"mmap", "munmap", "brk", "mremap", "mprotect"}

// HookNames lists every hook New attaches, by name, in load order.
func HookNames() []string {
	var names []string
	for _, sc := range syscalls {
		names = append(names, "syscalls/sys_exit_"+sc)
	}
	for _, name := range []string{"fork", "exec", "exit"} {
		names = append(names, "sched/sched_process_"+name)
	}
	return append(names, "oom/mark_victim")
}

// loadSyscalls loads alloc, which owns the shared maps, with an fexit
// program on each syscall where the kernel permits fentry and can attach to
// it, else that syscall's sys_exit tracepoint; each fallback says why.
func loadSyscalls(cfg Config, cache *btf.Cache) (*ebpf.Collection, []Hook, error) {
	why := map[string]string{} // syscall -> why it is on a tracepoint
	var reason string
	if cfg.NoFentry {
		reason = "fexit: disabled by configuration"
	} else if err := probeFentry(); err != nil {
		reason = "fexit: " + safe.FirstLine(err.Error())
	}
	for _, sc := range syscalls {
		if reason != "" {
			why[sc] = reason
		}
	}
	// Each round drops the fexit programs the kernel refused; at most one
	// round per syscall, then one with tracepoints only.
	for range len(syscalls) + 1 {
		spec, err := loadAlloc()
		if err != nil {
			return nil, nil, err
		}
		for _, sc := range syscalls {
			drop := "exit_" + sc
			if _, onTP := why[sc]; onTP {
				drop = "fexit_" + sc
			}
			delete(spec.Programs, drop)
		}
		if err := fitSpec(spec, cfg, "allocation", imms(cfg, allocImmMarkerIMM_MIN_SIZE, allocImmMarkerIMM_SLOT_MASK, allocImmMarkerIMM_STACK_SAMPLE)); err != nil {
			return nil, nil, err
		}
		if err := setVars(spec, map[string]any{allocVarWakeupBytes: cfg.WakeupBytes}); err != nil {
			return nil, nil, err
		}
		coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: cache})
		if err == nil {
			var hooks []Hook
			for _, sc := range syscalls {
				if w, onTP := why[sc]; onTP {
					hooks = append(hooks, tracepointHook("syscalls", "sys_exit_"+sc, coll.Programs["exit_"+sc], w))
				} else {
					hooks = append(hooks, tracingHook("syscalls/sys_exit_"+sc, "fexit", coll.Programs["fexit_"+sc], ""))
				}
			}
			return coll, hooks, nil
		}
		if len(why) == len(syscalls) {
			return nil, nil, fmt.Errorf("load allocation programs: %w", err)
		}
		refused := false
		for _, sc := range syscalls {
			prefix := "program fexit_" + sc + ": "
			if _, onTP := why[sc]; !onTP && strings.Contains(err.Error(), prefix) {
				why[sc] = "fexit: " + safe.FirstLine(strings.SplitN(err.Error(), prefix, 2)[1])
				refused = true
			}
		}
		if !refused { // not one program's fault: give up on fexit
			for _, sc := range syscalls {
				why[sc] = "fexit: " + safe.FirstLine(err.Error())
			}
		}
	}
	return nil, nil, errors.New("load allocation programs: no working set of hooks")
}

// loadOOM prefers tp_btf/mark_victim and falls back to the plain tracepoint.
func loadOOM(cfg Config, cache *btf.Cache, shared map[string]*ebpf.Map) (*ebpf.Collection, Hook, error) {
	newSpec := func(keep string) (*ebpf.CollectionSpec, error) {
		spec, err := loadOom()
		if err != nil {
			return nil, err
		}
		for name := range spec.Programs {
			if name != keep {
				delete(spec.Programs, name)
			}
		}
		if err := fitSpec(spec, cfg, "OOM", nil); err != nil {
			return nil, err
		}
		return spec, setVars(spec, map[string]any{oomVarWakeupBytes: cfg.WakeupBytes})
	}
	opts := ebpf.CollectionOptions{Cache: cache, MapReplacements: shared}

	btfErr := errors.New("disabled by configuration")
	if !cfg.ForceTracepoint {
		spec, err := newSpec(oomProgOomMarkVictimBtf)
		if err != nil {
			return nil, Hook{}, err
		}
		var coll *ebpf.Collection
		if coll, btfErr = ebpf.NewCollectionWithOptions(spec, opts); btfErr == nil {
			return coll, tracingHook("oom/mark_victim", "tp_btf", coll.Programs[oomProgOomMarkVictimBtf], ""), nil
		}
	}

	spec, err := newSpec(oomProgOomMarkVictimTp)
	if err != nil {
		return nil, Hook{}, err
	}
	offs, err := markVictimOffsets()
	if err != nil {
		return nil, Hook{}, fmt.Errorf("oom/mark_victim: tp_btf failed (%v) and the tracepoint format is unreadable: %w", btfErr, err)
	}
	if err := setVars(spec, offs); err != nil {
		return nil, Hook{}, err
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, opts)
	if err != nil {
		return nil, Hook{}, fmt.Errorf("load oom/mark_victim: tp_btf: %v; tracepoint: %w", btfErr, err)
	}
	why := fmt.Sprintf("tp_btf: %v", safe.FirstLine(btfErr.Error()))
	return coll, tracepointHook("oom", "mark_victim", coll.Programs[oomProgOomMarkVictimTp], why), nil
}

func tracepointHook(group, name string, prog *ebpf.Program, fallback string) Hook {
	return Hook{Name: group + "/" + name, Mechanism: "tracepoint", Fallback: fallback,
		attach: func() (link.Link, error) { return link.Tracepoint(group, name, prog, nil) }}
}

func tracingHook(name, mechanism string, prog *ebpf.Program, fallback string) Hook {
	return Hook{Name: name, Mechanism: mechanism, Fallback: fallback,
		attach: func() (link.Link, error) { return link.AttachTracing(link.TracingOptions{Program: prog}) }}
}

func setVars(spec *ebpf.CollectionSpec, vars map[string]any) error {
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("BPF variable %s missing", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("set BPF variable %s: %w", name, err)
		}
	}
	return nil
}

// fitSpec sizes the rings and the slot table as configured, and patches
// the immediates into the programs of one set (named for errors); shared
// maps must match in every spec.
func fitSpec(spec *ebpf.CollectionSpec, cfg Config, set string, vals map[allocImmMarker]uint64) error {
	if m, ok := spec.Maps[allocMapEvents]; ok {
		m.MaxEntries = cfg.RingBytes
	}
	if m, ok := spec.Maps[allocMapStacks]; ok {
		m.MaxEntries = cfg.StackRingBytes
	}
	if m, ok := spec.Maps[oomMapOomEvents]; ok {
		m.MaxEntries = cfg.OOMRingBytes
	}
	if m, ok := spec.Maps[allocMapSlots]; ok {
		m.MaxEntries = uint32(max(cfg.ProcSlots, 1))
	}
	return patchImm(spec, set, vals)
}

// imms are the configured values of the given markers.
func imms(cfg Config, markers ...allocImmMarker) map[allocImmMarker]uint64 {
	mask := uint64(cfg.ProcSlots) - 1
	if cfg.ProcSlots < 0 {
		mask = math.MaxUint64 // no table
	}
	all := map[allocImmMarker]uint64{allocImmMarkerIMM_MIN_SIZE: cfg.MinSize, allocImmMarkerIMM_SLOT_MASK: mask,
		allocImmMarkerIMM_STACK_SAMPLE: cfg.StackSample}
	out := map[allocImmMarker]uint64{}
	for _, m := range markers {
		out[m] = all[m]
	}
	return out
}

var immNames = map[allocImmMarker]string{
	allocImmMarkerIMM_MIN_SIZE:     "IMM_MIN_SIZE",
	allocImmMarkerIMM_SLOT_MASK:    "IMM_SLOT_MASK",
	allocImmMarkerIMM_GROUP_DEAD:   "IMM_GROUP_DEAD",
	allocImmMarkerIMM_STACK_SAMPLE: "IMM_STACK_SAMPLE",
}

// patchImm writes each marker's value over the 64-bit immediate loads of
// it (see IMM in bpf/common.h). A value no program takes, or a marker left
// without one, fails the load: the loader and the programs disagree, and a
// program would run with a marker as its threshold or mask.
func patchImm(spec *ebpf.CollectionSpec, set string, vals map[allocImmMarker]uint64) error {
	found := map[allocImmMarker]bool{}
	for _, p := range spec.Programs {
		for i := range p.Instructions {
			ins := &p.Instructions[i]
			if ins.OpCode != asm.LoadImmOp(asm.DWord) || ins.Src != asm.R0 || ins.Reference() != "" {
				continue
			}
			if ins.Constant < 0 || ins.Constant > math.MaxUint32 {
				continue
			}
			m := allocImmMarker(ins.Constant)
			if v, ok := vals[m]; ok {
				ins.Constant = int64(v)
				found[m] = true
			} else if name, ok := immNames[m]; ok {
				return fmt.Errorf("%s programs: program %s loads marker %s, which has no value", set, p.Name, name)
			}
		}
	}
	for m := range vals {
		if !found[m] {
			return fmt.Errorf("%s programs: no program loads marker %s (%#x) to patch", set, immNames[m], uint32(m))
		}
	}
	return nil
}
