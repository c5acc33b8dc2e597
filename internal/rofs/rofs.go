// Package rofs lets a Pebble database opened read-only work on a
// read-only file system (a read-only mount, a snapshot, a backup
// restored without write permission).
//
// Pebble's Open takes the directory's LOCK file even with
// Options.ReadOnly, and locking opens LOCK for writing, which a read-only
// file system refuses with EROFS. On such a file system no process can be
// writing the database, so the lock protects nothing: FS turns that one
// refusal into a lock that holds nothing. Every other failure to lock —
// the lock held by a running journey serve, EACCES, a missing directory —
// is returned as it is.
package rofs

import (
	"errors"
	"io"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS wraps fs for a database opened read-only: Lock of a file on a
// read-only file system succeeds without locking. Use it only with
// pebble.Options.ReadOnly (or a store's own read-only mode): a writer
// must never run without its lock.
func FS(fs vfs.FS) vfs.FS {
	if _, ok := fs.(roFS); ok {
		return fs
	}
	return roFS{fs}
}

type roFS struct{ vfs.FS }

// Lock implements vfs.FS.
func (f roFS) Lock(name string) (io.Closer, error) {
	c, err := f.FS.Lock(name)
	if err != nil && IsReadOnly(err) {
		return noLock{}, nil
	}
	return c, err
}

// IsReadOnly reports whether err is the file system refusing a write
// because it is mounted read-only (EROFS).
func IsReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }

type noLock struct{}

func (noLock) Close() error { return nil }
