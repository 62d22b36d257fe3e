package proc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// VMStatOOMKills gives the oom_kill figure of /proc/vmstat, read here field
// by field; kills by other tests in between can only raise it.
func TestVMStatOOMKills(t *testing.T) {
	kernel := func() uint64 {
		b, err := os.ReadFile("/proc/vmstat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] == "oom_kill" {
				v, err := strconv.ParseUint(f[i+1], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		t.Fatal("no oom_kill in /proc/vmstat")
		return 0
	}
	before := kernel()
	got, err := VMStatOOMKills()
	after := kernel()
	if err != nil || got < before || got > after {
		t.Fatalf("VMStatOOMKills() = %d, %v; /proc/vmstat said %d before and %d after", got, err, before, after)
	}
}
