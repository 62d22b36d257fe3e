package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// VMStatOOMKills reads the kernel's count of OOM kills since boot
// (oom_kill in /proc/vmstat).
func VMStatOOMKills() (uint64, error) {
	f, err := os.Open("/proc/vmstat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no oom_kill in /proc/vmstat")
}
