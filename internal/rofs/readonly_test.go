package rofs

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockFails is a file system whose Lock fails as the OS's does: opening
// LOCK for writing is refused with errno.
type lockFails struct {
	vfs.FS
	errno syscall.Errno
}

func (f lockFails) Lock(name string) (io.Closer, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: f.errno}
}

// TestReadOnlyLock: a database opened read-only through FS opens and reads
// when its LOCK cannot be opened on a read-only file system (EROFS), and
// still fails for any other refusal (EACCES: the owner may be writing).
func TestReadOnlyLock(t *testing.T) {
	mem := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	erofs := lockFails{mem, syscall.EROFS}
	if _, err := pebble.Open("db", &pebble.Options{FS: erofs, ReadOnly: true}); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("without rofs.FS: %v, want EROFS (the failure FS works around)", err)
	}
	db, err = pebble.Open("db", &pebble.Options{FS: FS(erofs), ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open on a read-only file system: %v", err)
	}
	v, closer, err := db.Get([]byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v; want v", v, err)
	}
	closer.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EAGAIN, syscall.ENOENT} {
		if _, err := pebble.Open("db", &pebble.Options{FS: FS(lockFails{mem, errno}), ReadOnly: true}); !errors.Is(err, errno) {
			t.Errorf("lock refused with %v: Open = %v, want that error", errno, err)
		}
	}
	if FS(FS(mem)) != FS(mem) {
		t.Error("FS wraps twice")
	}
}
