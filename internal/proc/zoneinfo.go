package proc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Watermarks are the kernel's free-memory watermarks summed over every
// zone, in bytes: below low, kswapd reclaims; below min, allocations reclaim
// directly and, failing that, the OOM killer runs.
type Watermarks struct {
	Min, Low uint64
}

// ReadWatermarks reads /proc/zoneinfo.
func ReadWatermarks() (Watermarks, error) {
	f, err := os.Open("/proc/zoneinfo")
	if err != nil {
		return Watermarks{}, err
	}
	defer f.Close()
	return parseZoneinfo(f, uint64(os.Getpagesize()))
}

// parseZoneinfo sums each zone's "min" and "low" pages. Those lines follow
// a zone's "pages free" line; a "min" elsewhere (none today) would not be
// indented alike, so only the two-field lines count.
func parseZoneinfo(r io.Reader, page uint64) (Watermarks, error) {
	var w Watermarks
	zones := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "Node" && strings.HasSuffix(f[1], ",") {
			zones++
			continue
		}
		if len(f) != 2 || (f[0] != "min" && f[0] != "low") {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return Watermarks{}, fmt.Errorf("zoneinfo: %s %q: %w", f[0], f[1], err)
		}
		if f[0] == "min" {
			w.Min += n * page
		} else {
			w.Low += n * page
		}
	}
	if err := sc.Err(); err != nil {
		return Watermarks{}, err
	}
	if zones == 0 || w.Low == 0 {
		return Watermarks{}, fmt.Errorf("zoneinfo: no zone watermarks")
	}
	return w, nil
}
