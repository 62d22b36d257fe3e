package aggregate

import "time"

// markEvery spaces a process's RSS marks: three of them give its growth
// over the last 40-60 s for 48 bytes, where a series would cost kilobytes
// a process.
const markEvery = 20 * time.Second

// rssMarks are a process's RSS at up to three moments at least markEvery apart.
type rssMarks struct {
	at   [3]int64 // unix nanoseconds; 0: unused
	rss  [3]uint64
	next uint8
}

func (m *rssMarks) add(now time.Time, rss uint64) {
	last := m.at[(m.next+2)%3]
	if last != 0 && now.UnixNano()-last < int64(markEvery) {
		return
	}
	m.at[m.next], m.rss[m.next] = now.UnixNano(), rss
	m.next = (m.next + 1) % 3
}

// marksCovered is the span a process's growth stands on once it has three marks.
const marksCovered = 2 * markEvery

// growth is the RSS slope from the oldest mark to now, and its span in seconds.
func (m *rssMarks) growth(now time.Time, rss uint64) (bps, spanS float64) {
	i := m.next // the oldest, once all three are used
	for m.at[i] == 0 {
		if i = (i + 1) % 3; i == m.next {
			return 0, 0
		}
	}
	spanS = float64(now.UnixNano()-m.at[i]) / 1e9
	if spanS <= 0 {
		return 0, 0
	}
	return (float64(rss) - float64(m.rss[i])) / spanS, spanS
}
