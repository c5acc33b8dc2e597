//go:build race

package handlers_test

// raceEnabled: the race detector is on (go test -race).
const raceEnabled = true
