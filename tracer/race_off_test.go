//go:build !race

package tracer

const raceOn = false
