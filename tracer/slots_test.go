package tracer

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestProcSlots(t *testing.T) {
	for n, want := range map[int]int{1: 1, 3: 4, 4096: 4096, 5000: 8192, 32768: 32768, 40000: 32768, 1 << 30: 32768, -1: -1} {
		if got := procSlots(n); got != want {
			t.Errorf("procSlots(%d) = %d, want %d", n, got, want)
		}
	}
	// The default has one slot per pid where pid_max allows. Every Linux
	// kernel has the file: no kernel is a reason to skip.
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid_max %q: %v", b, err)
	}
	got := procSlots(0)
	if got&(got-1) != 0 || got > maxProcSlots || (pidMax <= maxProcSlots && got < pidMax) || (pidMax > maxProcSlots && got != maxProcSlots) {
		t.Errorf("procSlots(0) = %d with pid_max %d", got, pidMax)
	}
}
