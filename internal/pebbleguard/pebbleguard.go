// Package pebbleguard turns the fatal errors Pebble raises through its
// Logger.Fatalf (a failed WAL write or fsync) into errors of the write
// that met them, for the event store and the key store.
package pebbleguard

import (
	"fmt"
	"strings"
)

// Fatal is what a Pebble logger's Fatalf panics with.
type Fatal string

func (f Fatal) Error() string { return string(f) }

// Run runs a Pebble write and returns the Fatal raised meanwhile as its
// error; one from a full disk wraps noSpace. Any other panic goes on.
func Run(write func() error, noSpace error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(Fatal)
			if !ok {
				panic(r)
			}
			err = f
			if strings.Contains(string(f), "no space left on device") {
				err = fmt.Errorf("%w: %s", noSpace, f)
			}
		}
	}()
	return write()
}
