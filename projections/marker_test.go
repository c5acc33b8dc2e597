package projections

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestViewsPointer: the current views directory is named by Pebble's
// atomicfs marker; a data dir of an older journey, with a VIEWS file, is
// read, and the first move of the marker replaces that file.
func TestViewsPointer(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Default
	if got, err := readPointer(fs, dir); err != nil || got != defaultViewsDir {
		t.Fatalf("empty data dir: %q, %v; want %q", got, err, defaultViewsDir)
	}
	if err := os.WriteFile(filepath.Join(dir, pointerFile), []byte("views-000002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readPointer(fs, dir); err != nil || got != "views-000002" {
		t.Fatalf("legacy VIEWS file: %q, %v", got, err)
	}
	for _, name := range []string{"views-000003", "views-000004"} {
		if err := writePointer(fs, dir, name); err != nil {
			t.Fatal(err)
		}
		if got, err := readPointer(fs, dir); err != nil || got != name {
			t.Fatalf("after moving to %s: %q, %v", name, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, pointerFile)); !os.IsNotExist(err) {
		t.Fatalf("the legacy VIEWS file is still there: %v", err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "marker.views.*"))
	if len(m) != 1 {
		t.Fatalf("marker files %v, want one", m)
	}
	if err := writePointer(fs, dir, "../etc"); err == nil {
		if _, err := readPointer(fs, dir); err == nil {
			t.Fatal("a marker naming ../etc was accepted")
		}
	}
}
