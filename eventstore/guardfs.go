package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ArchiveDirName is the subdirectory of the log where files that Pebble
// wanted to delete, but that the store could not prove obsolete, are kept.
const ArchiveDirName = "archive"

// guardFS is the file system the log's Pebble runs on. It never lets
// Pebble delete a file that held the log before this Open unless it is
// known to be obsolete:
//
//   - an sstable that existed before Open is deleted only once a compaction
//     of this process consumed it; any other deletion of it (Pebble found
//     it "obsolete" because a damaged MANIFEST does not name it, or a crash
//     came between a compaction's MANIFEST write and its deletions) moves it
//     to archive/ instead, with a warning;
//   - a WAL or MANIFEST that existed before Open is moved to archive/ until
//     the store has checked the opened log against its durable head record
//     (trust); then the ones archived by this Open are deleted, and later
//     ones are deleted directly;
//   - files created by this process are deleted as Pebble asks (a failed
//     compaction's outputs must free their space on a full disk).
//
// Pebble deletes through FS.Remove (its DeleteCleaner), so this is the one
// place to intercept. (pebble.Options.Cleaner would be the natural hook,
// but its file type is internal to Pebble and cannot be named outside.)
type guardFS struct {
	vfs.FS
	dir    string
	logger *slog.Logger

	mu        sync.Mutex
	before    map[string]bool // base names of sstables, WALs, MANIFESTs at Open
	compacted map[uint64]bool // sstable numbers a compaction consumed
	trusted   bool
	archived  []string // WALs and MANIFESTs archived before trust (base names)
	tables    []string // sstables archived (base names), kept for good
}

// newGuardFS lists dir (which may not exist yet) before Pebble opens it.
func newGuardFS(fs vfs.FS, dir string, logger *slog.Logger) (*guardFS, error) {
	dir = filepath.Clean(dir)
	g := &guardFS{FS: fs, dir: dir, logger: logger, before: map[string]bool{}, compacted: map[uint64]bool{}}
	names, err := fs.List(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, n := range names {
		if kind := logFileKind(n); kind != "" {
			g.before[n] = true
		}
	}
	return g, nil
}

// logFileKind classifies a Pebble file name: "table", "wal", "manifest" or "".
func logFileKind(name string) string {
	switch {
	case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".blob"):
		return "table"
	case strings.HasSuffix(name, ".log"):
		return "wal"
	case strings.HasPrefix(name, "MANIFEST-"):
		return "manifest"
	}
	return ""
}

// fileNum parses the number of "000123.sst".
func fileNum(name string) (uint64, bool) {
	digits, _, _ := strings.Cut(name, ".")
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// listener adds the compaction hook to el.
func (g *guardFS) listener(el *pebble.EventListener) {
	prev := el.CompactionEnd
	el.CompactionEnd = func(info pebble.CompactionInfo) {
		if info.Err == nil {
			g.mu.Lock()
			for _, lvl := range info.Input {
				for _, t := range lvl.Tables {
					g.compacted[uint64(t.FileNum)] = true
				}
			}
			g.mu.Unlock()
		}
		if prev != nil {
			prev(info)
		}
	}
}

// Remove implements vfs.FS.
func (g *guardFS) Remove(name string) error {
	base := g.FS.PathBase(name)
	if filepath.Clean(g.FS.PathDir(name)) != g.dir {
		return g.FS.Remove(name)
	}
	kind := logFileKind(base)
	g.mu.Lock()
	defer g.mu.Unlock()
	if kind == "" || !g.before[base] {
		return g.FS.Remove(name)
	}
	switch kind {
	case "table":
		if n, ok := fileNum(base); ok && g.compacted[n] {
			return g.FS.Remove(name)
		}
		if err := g.archive(name); err != nil {
			return err
		}
		g.tables = append(g.tables, base)
		g.logger.Warn("eventstore: Pebble dropped an sstable that no compaction consumed; kept it in the archive",
			"file", base, "archive", g.FS.PathJoin(g.dir, ArchiveDirName))
		return nil
	default: // wal, manifest
		if g.trusted {
			return g.FS.Remove(name)
		}
		if err := g.archive(name); err != nil {
			return err
		}
		g.archived = append(g.archived, base)
		return nil
	}
}

func (g *guardFS) archive(name string) error {
	dest := g.FS.PathJoin(g.dir, ArchiveDirName)
	if err := g.FS.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	return g.FS.Rename(name, g.FS.PathJoin(dest, g.FS.PathBase(name)))
}

// trust is called once the opened log matches its durable head record:
// the WALs and MANIFESTs this Open archived are deleted.
func (g *guardFS) trust() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trusted = true
	for _, n := range g.archived {
		p := g.FS.PathJoin(g.dir, ArchiveDirName, n)
		if err := g.FS.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			g.logger.Warn("eventstore: cannot delete an archived file", "file", p, "err", err)
		}
	}
	g.archived = nil
}

// archivedSummary describes what this Open archived (for error messages).
func (g *guardFS) archivedSummary() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.archived) + len(g.tables)
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d file(s) Pebble wanted to delete (%d sstables, %d WALs/MANIFESTs) are kept in %s",
		n, len(g.tables), len(g.archived), g.FS.PathJoin(g.dir, ArchiveDirName))
}
