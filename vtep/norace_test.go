//go:build !race

package vtep

// raceEnabled reports whether the race detector is on; it adds
// allocations of its own, so allocation budgets are not checked then.
const raceEnabled = false
