package projections

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Rounds. A rebuild worker folds at most Options.MaxStates customers at
// once. Once it holds that many, admission closes for the rest of the
// round: the events and referral marks of the customers it does not hold
// are appended, as they come (already in the order the fold would apply
// them), to the worker's defer files (deferParts of them, by customer
// hash), and the round ends by writing the states it holds to the new
// views. The next rounds read the defer files instead of the log, with
// admission open again, several files a round while the customers fit,
// and defer in turn what does not fit, until nothing is left. Each
// customer is folded whole in one round, so nothing is decoded twice and
// memory stays flat whatever the number of customers; a log whose
// customers fit takes one round and writes no file.

// Defer file records.
const (
	deferEvent byte = 1 // uvarint seq | uint64 h | uvarint len | raw
	deferMark  byte = 2 // uvarint seq | uint64 h | for | by | varint sec | varint nsec
)

// deferParts is the number of files a worker's first pass defers to, by
// bits 32 and up of the customer hash (the worker is chosen by the low
// bits): each file holds whole customers, so a
// later round can take several files and complete their customers, and an
// event is rewritten only when a file's customers do not fit a round.
const deferParts = 8

// deferSet is the defer files of a round: parts files by customer hash,
// each created at its first record.
type deferSet struct {
	fs     vfs.FS
	prefix string
	parts  []*deferWriter
}

func newDeferSet(fs vfs.FS, prefix string, parts int) *deferSet {
	return &deferSet{fs: fs, prefix: prefix, parts: make([]*deferWriter, parts)}
}

func (s *deferSet) part(h uint64) (*deferWriter, error) {
	i := int((h >> 32) % uint64(len(s.parts)))
	if s.parts[i] == nil {
		d, err := newDeferWriter(s.fs, fmt.Sprintf("%s.p%d", s.prefix, i))
		if err != nil {
			return nil, err
		}
		s.parts[i] = d
	}
	return s.parts[i], nil
}

func (s *deferSet) event(it reorderItem) error {
	d, err := s.part(it.h)
	if err != nil {
		return err
	}
	return d.event(it)
}

func (s *deferSet) mark(it *scanItem) error {
	d, err := s.part(it.h)
	if err != nil {
		return err
	}
	return d.mark(it)
}

// close closes the files and returns the paths of those with records, the
// number of records and their bytes.
func (s *deferSet) close() ([]string, uint64, int64, error) {
	var files []string
	var n uint64
	var size int64
	var err error
	for _, d := range s.parts {
		if d == nil {
			continue
		}
		err = errors.Join(err, d.close())
		if d.n > 0 {
			files = append(files, d.path)
			n += uint64(d.n)
			size += d.size
		}
	}
	return files, n, size, err
}

// discard closes and removes the files (a build that failed).
func (s *deferSet) discard() {
	for _, d := range s.parts {
		if d != nil {
			_ = d.f.Close()
			_ = s.fs.Remove(d.path)
		}
	}
}

// deferWriter appends deferred records to a file.
type deferWriter struct {
	fs   vfs.FS
	path string
	f    vfs.File
	w    *bufio.Writer
	n    int   // records written
	size int64 // bytes written
	buf  []byte
}

func newDeferWriter(fs vfs.FS, path string) (*deferWriter, error) {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("projections: rebuild defer file: %w", err)
	}
	return &deferWriter{fs: fs, path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (d *deferWriter) event(it reorderItem) error {
	b := append(d.buf[:0], deferEvent)
	b = binary.AppendUvarint(b, it.seq)
	b = binary.LittleEndian.AppendUint64(b, it.h)
	b = binary.AppendUvarint(b, uint64(len(it.raw)))
	d.buf = b
	d.n++
	d.size += int64(len(b) + len(it.raw))
	if _, err := d.w.Write(b); err != nil {
		return err
	}
	_, err := d.w.Write(it.raw)
	return err
}

func (d *deferWriter) mark(it *scanItem) error {
	b := append(d.buf[:0], deferMark)
	b = binary.AppendUvarint(b, it.seq)
	b = binary.LittleEndian.AppendUint64(b, it.h)
	b = binary.AppendUvarint(b, uint64(len(it.markFor)))
	b = append(b, it.markFor...)
	b = binary.AppendUvarint(b, uint64(len(it.markBy)))
	b = append(b, it.markBy...)
	b = binary.AppendVarint(b, it.markTime.Unix())
	b = binary.AppendVarint(b, int64(it.markTime.Nanosecond()))
	d.buf = b
	d.n++
	d.size += int64(len(b))
	_, err := d.w.Write(b)
	return err
}

// close flushes and closes the file (no fsync: a crash discards the
// rebuild and its files); it is removed when it holds nothing.
func (d *deferWriter) close() error {
	err := errors.Join(d.w.Flush(), d.f.Close())
	if d.n == 0 {
		err = errors.Join(err, d.fs.Remove(d.path))
	}
	return err
}

// replayProgressEvery is how many replayed records a worker reports to
// Options.Progress at a time.
const replayProgressEvery = 1024

// replay reads the defer file at path and hands each record to the worker
// (apply or mark), then removes the file.
func (w *foldWorker) replay(fs vfs.FS, path string) error {
	f, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("projections: rebuild defer file: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var raw []byte
	bad := func(what string) error {
		return fmt.Errorf("projections: rebuild defer file %s: bad record (%s)", path, what)
	}
	readString := func() (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 1<<20 {
			return "", bad("string length")
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", bad("string")
		}
		return string(b), nil
	}
	for err == nil {
		var kind byte
		if kind, err = r.ReadByte(); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
				break
			}
			break
		}
		var seq uint64
		var h [8]byte
		if seq, err = binary.ReadUvarint(r); err != nil {
			err = bad("seq")
			break
		}
		if _, err = io.ReadFull(r, h[:]); err != nil {
			err = bad("hash")
			break
		}
		switch kind {
		case deferEvent:
			var n uint64
			if n, err = binary.ReadUvarint(r); err != nil || n > 1<<24 {
				err = bad("length")
				break
			}
			if uint64(cap(raw)) < n {
				raw = make([]byte, n)
			}
			raw = raw[:n]
			if _, err = io.ReadFull(r, raw); err != nil {
				err = bad("event")
				break
			}
			err = w.apply(reorderItem{seq: seq, h: binary.LittleEndian.Uint64(h[:]), raw: raw})
		case deferMark:
			it := scanItem{seq: seq, h: binary.LittleEndian.Uint64(h[:])}
			if it.markFor, err = readString(); err != nil {
				break
			}
			if it.markBy, err = readString(); err != nil {
				break
			}
			var sec, nsec int64
			if sec, err = binary.ReadVarint(r); err != nil {
				err = bad("time")
				break
			}
			if nsec, err = binary.ReadVarint(r); err != nil {
				err = bad("time")
				break
			}
			it.markTime = time.Unix(sec, nsec).UTC()
			err = w.mark(&it)
		default:
			err = bad(fmt.Sprintf("kind %d", kind))
		}
		if err == nil {
			if w.replayed++; w.replayed%replayProgressEvery == 0 && w.progress != nil {
				w.progress(replayProgressEvery)
			}
		}
	}
	return errors.Join(err, f.Close(), fs.Remove(path))
}

// rounds replays the worker's defer files after the first pass: a round
// opens admission and replays files from the queue while it holds fewer
// than half its bound, then writes its states; what it defers goes to the
// end of the queue.
func (w *foldWorker) rounds(ctx context.Context) error {
	for len(w.queue) > 0 {
		w.round++
		w.closed = false
		w.def = newDeferSet(w.v.opts.FS, fmt.Sprintf("%s.w%d.r%d", w.spool, w.id, w.round), 1)
		for len(w.queue) > 0 && !w.closed && len(w.states)+len(w.coll) < max(1, w.maxStates/2) {
			in := w.queue[0]
			w.queue = w.queue[1:]
			if err := w.replay(w.v.opts.FS, in); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := w.endRound(); err != nil {
			return err
		}
	}
	return nil
}
