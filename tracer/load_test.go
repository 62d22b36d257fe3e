package tracer

import (
	"math"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// A marker the loader means to patch must be in the programs, and every
// marker in the programs must have a value: either way round, a program
// would otherwise run with the marker itself as its threshold or mask.
func TestPatchImmMarkers(t *testing.T) {
	all := map[allocImmMarker]uint64{allocImmMarkerIMM_MIN_SIZE: 1 << 20, allocImmMarkerIMM_SLOT_MASK: 0xff, allocImmMarkerIMM_STACK_SAMPLE: 512 << 10}
	spec, err := loadAlloc()
	if err != nil {
		t.Fatal(err)
	}
	if err := patchImm(spec, "allocation", all); err != nil {
		t.Fatalf("patch of the markers the allocation programs load: %v", err)
	}
	for name, p := range spec.Programs {
		for _, ins := range p.Instructions {
			if ins.OpCode == asm.LoadImmOp(asm.DWord) && ins.Constant >= 0 && ins.Constant <= math.MaxUint32 {
				if _, ok := immNames[allocImmMarker(ins.Constant)]; ok {
					t.Errorf("program %s still loads marker %#x after the patch", name, ins.Constant)
				}
			}
		}
	}

	for _, tc := range []struct {
		name  string
		load  func() (*ebpf.CollectionSpec, error)
		set   string
		vals  map[allocImmMarker]uint64
		wants []string
	}{
		{"absent", loadSample, "task iterator",
			map[allocImmMarker]uint64{allocImmMarkerIMM_MIN_SIZE: 1, allocImmMarkerIMM_SLOT_MASK: 1},
			[]string{"task iterator programs", "IMM_MIN_SIZE"}},
		{"no value", loadAlloc, "allocation",
			map[allocImmMarker]uint64{allocImmMarkerIMM_SLOT_MASK: 1, allocImmMarkerIMM_STACK_SAMPLE: 1},
			[]string{"allocation programs", "IMM_MIN_SIZE"}},
		{"absent from oom", loadOom, "OOM",
			map[allocImmMarker]uint64{allocImmMarkerIMM_SLOT_MASK: 1},
			[]string{"OOM programs", "IMM_SLOT_MASK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := tc.load()
			if err != nil {
				t.Fatal(err)
			}
			err = patchImm(spec, tc.set, tc.vals)
			if err == nil {
				t.Fatalf("patch of %v into the %s programs succeeded", tc.vals, tc.set)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
