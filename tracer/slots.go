package tracer

import (
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// maxProcSlots bounds the slot table: 32768 slots of 152 bytes, 4.75 MiB.
const maxProcSlots = 1 << 15

// procSlots rounds a configured table size up to a power of two, at most
// maxProcSlots; 0 is the default and negative (off) stays as it is.
func procSlots(n int) int {
	switch {
	case n == 0:
		return defaultProcSlots()
	case n < 0:
		return n
	}
	return 1 << bits.Len(uint(min(n, maxProcSlots)-1))
}

// defaultProcSlots is pid_max rounded up to a power of two, at most
// maxProcSlots: one slot per pid where pids are few, else tgid modulo.
func defaultProcSlots() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return maxProcSlots
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 1 || n > maxProcSlots {
		return maxProcSlots
	}
	return 1 << bits.Len(uint(n-1))
}
