package eventstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The durable head record.
//
// Pebble's own files can lose acknowledged events without an error: a
// damaged byte in the newest WAL ends its replay there (Pebble takes it
// for a torn tail), and a damaged MANIFEST can forget sstables. So the
// store keeps the head it has fsynced — sequence and hash — in a small
// file of its own, HeadFileName, beside Pebble's files and never written
// by Pebble. The syncer writes it after each batch's WAL fsync and before
// it acknowledges the batch (a write to the page cache, which survives a
// killed process); a separate goroutine fsyncs it, so it is durable
// alongside the next batches (after a power loss it may be a few batches
// behind, never ahead). Open compares the log with it: a log that ends
// before it, or whose record at its sequence has another hash, is damaged,
// and Verify names the missing range.
//
// The file holds two 64-byte slots (at 0 and 512) written alternately,
// each with a generation and a CRC, so a torn write leaves the other.
//
// The log remembers that it has the file: the first writable Open that
// has written it sets the meta key "m/headfile" (fsynced), so a log with
// that key and without the file lost the file (Open: *DamageError, since
// whether records after its last one were lost cannot be checked; see
// AcceptLoss), while a log with neither was written by an older journey
// and opens with a warning, starting a head record.

// HeadFileName is the durable head record's file in the log directory.
const HeadFileName = "JOURNEY-HEAD"

const (
	headSlotLen  = 64
	headSlotSpan = 512
	headMagic    = "JRNYHEAD"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// headRecord is one slot's content.
type headRecord struct {
	gen  uint64
	seq  uint64
	hash [32]byte
}

func (r headRecord) encode() []byte {
	b := make([]byte, headSlotLen)
	copy(b, headMagic)
	binary.BigEndian.PutUint64(b[8:], r.gen)
	binary.BigEndian.PutUint64(b[16:], r.seq)
	copy(b[24:56], r.hash[:])
	binary.BigEndian.PutUint32(b[56:], crc32.Checksum(b[:56], crcTable))
	return b
}

func decodeHeadSlot(b []byte) (headRecord, bool) {
	var r headRecord
	if len(b) < headSlotLen || string(b[:8]) != headMagic ||
		binary.BigEndian.Uint32(b[56:]) != crc32.Checksum(b[:56], crcTable) {
		return r, false
	}
	r.gen = binary.BigEndian.Uint64(b[8:])
	r.seq = binary.BigEndian.Uint64(b[16:])
	copy(r.hash[:], b[24:56])
	return r, true
}

// errHeadUnreadable: the head file exists but neither slot is valid.
var errHeadUnreadable = errors.New("neither slot of the durable head record is valid")

// readHead reads the durable head record of dir. exists is false when
// there is no head file (a new log, one written before the file existed,
// or one that lost it: checkHead tells them apart by metaHeadFile).
func readHead(fs vfs.FS, dir string) (r headRecord, exists bool, err error) {
	f, err := fs.Open(fs.PathJoin(dir, HeadFileName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return r, false, nil
		}
		return r, true, err
	}
	defer f.Close()
	buf := make([]byte, headSlotSpan+headSlotLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return r, true, err
	}
	buf = buf[:n]
	a, okA := decodeHeadSlot(buf)
	var b headRecord
	okB := false
	if len(buf) >= headSlotSpan+headSlotLen {
		b, okB = decodeHeadSlot(buf[headSlotSpan:])
	}
	switch {
	case okA && okB:
		if b.gen > a.gen {
			return b, true, nil
		}
		return a, true, nil
	case okA:
		return a, true, nil
	case okB:
		return b, true, nil
	}
	return r, true, errHeadUnreadable
}

// headWriter keeps the head file up to date. write is called by the
// syncer only; a goroutine of its own fsyncs what was written.
type headWriter struct {
	f      vfs.File
	noSync bool
	gen    uint64
	kick   chan struct{} // cap 1: something to fsync
	done   chan struct{}

	mu  sync.Mutex
	err error // first write or fsync error
}

// openHeadWriter opens (creating) the head file and writes r to it, fsynced.
func openHeadWriter(fs vfs.FS, dir string, r headRecord, noSync bool) (*headWriter, error) {
	path := fs.PathJoin(dir, HeadFileName)
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("head record %s: %w", path, err)
	}
	h := &headWriter{f: f, noSync: noSync, gen: r.gen, kick: make(chan struct{}, 1), done: make(chan struct{})}
	// Both slots hold r, so that either survives a torn first write.
	for range 2 {
		h.gen++
		r.gen = h.gen
		if _, err := f.WriteAt(r.encode(), int64(h.gen&1)*headSlotSpan); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("head record %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("head record %s: %w", path, err)
	}
	if d, err := fs.OpenDir(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	go h.syncLoop()
	return h, nil
}

// write records seq and hash as the durable head (the WAL holding them
// is fsynced). It is a page-cache write; syncLoop makes it durable.
func (h *headWriter) write(seq uint64, hash [32]byte) error {
	if h == nil {
		return nil // read-only or damaged: nothing is appended
	}
	h.gen++
	r := headRecord{gen: h.gen, seq: seq, hash: hash}
	if _, err := h.f.WriteAt(r.encode(), int64(h.gen&1)*headSlotSpan); err != nil {
		return h.setErr(fmt.Errorf("write the durable head record: %w", err))
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return h.failure()
}

func (h *headWriter) setErr(err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
	}
	return h.err
}

func (h *headWriter) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// headSyncEvery spaces the head record's fsyncs: under load one fsync
// covers the writes of many batches, so the record costs the disk at most
// this many flushes a second instead of one per batch (after a power loss
// it may lag the WAL by that long; it never leads it).
var headSyncEvery = 50 * time.Millisecond

func (h *headWriter) syncLoop() {
	defer close(h.done)
	for range h.kick {
		if h.noSync {
			continue
		}
		if err := h.f.SyncData(); err != nil {
			h.setErr(fmt.Errorf("fsync the durable head record: %w", err))
		}
		time.Sleep(headSyncEvery)
	}
}

// close fsyncs the last write and closes the file (syncer stopped).
func (h *headWriter) close() error {
	close(h.kick)
	<-h.done
	var err error
	if !h.noSync {
		err = h.f.Sync()
	}
	return errors.Join(err, h.f.Close(), h.failure())
}
