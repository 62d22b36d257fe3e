//go:build race

package tracer

// raceOn: the race detector makes sync.Pool drop some of what it is given.
const raceOn = true
