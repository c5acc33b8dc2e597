// Package freshwal is a Pebble file system on which a recycled file starts
// empty: Pebble reuses an obsolete WAL by renaming it and writing over it
// from the start, which leaves the old log's tail, and whatever personal
// data it held, readable on disk until it is overwritten. Here reuse
// removes the old file and creates the new one instead (a little slower
// to write: the file grows again instead of being preallocated).
package freshwal

import "github.com/cockroachdb/pebble/v2/vfs"

// FS wraps fs so that ReuseForWrite never reuses a file's contents.
func FS(fs vfs.FS) vfs.FS { return freshFS{fs} }

type freshFS struct{ vfs.FS }

// ReuseForWrite removes oldname and creates newname.
func (f freshFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.FS.Remove(oldname); err != nil {
		return nil, err
	}
	return f.FS.Create(newname, category)
}
