//go:build !linux && !darwin

package handlers

// freeBytes cannot measure here: unknown.
func freeBytes(string) (int64, bool) { return 0, false }
