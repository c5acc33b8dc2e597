package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/spf13/cobra"
)

// importBatch is how many events go to the store in one Append (one fsync).
const importBatch = 1000

// maxLineBytes is the longest input line kept whole; longer lines are
// quarantined as too_large with their first maxLineBytes bytes.
const maxLineBytes = 1 << 20

type importSummary struct {
	Appended   int `json:"appended"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	timing
}

func (a *app) importCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import [--data DIR] [--format cloudevents|cdnow|online-retail] FILE|-",
		Short: "Append touchpoints from a file straight into a stopped engine's log",
		Long: `import reads FILE (or stdin for -) and appends every valid touchpoint to the
log in batches of 1,000 (one fsync each). Invalid lines are kept in the
quarantine with their reason (origin import:FILE:LINE) and do not make the
command fail; see journey quarantine list. Re-importing a file appends nothing
new: events whose id is stored are counted as duplicates.

Formats:
  cloudevents    JSONL, one CloudEvent per line (default; what simulate writes)
  cdnow          the CDNOW purchase log (whitespace-separated: [master id] id
                 yyyymmdd cds dollars), each row a purchase in USD
  online-retail  the UCI Online Retail baskets CSV (gzipped or not):
                 customer_id,basket_ts,lines,amount_gbp,is_return,country;
                 a purchase per basket, a return when is_return=1, and a
                 profile with the country at a customer's first basket
Converted rows get deterministic ids, so importing a file twice is harmless.`,
		Example: `  journey simulate --customers 1000 --days 180 --seed 1 > events.jsonl
  journey import events.jsonl
  journey import --format cdnow ../shared/data/cdnow/CDNOW_sample.txt
  journey import --format online-retail ../shared/data/online_retail/baskets_2010-12-01_2011-12-09.csv.gz`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conv, ok := converters[format]
			if !ok {
				return usageErrorf("--format %q is not one of cloudevents, cdnow, online-retail", format)
			}
			return a.runImport(cmd.Context(), args[0], conv)
		},
	}
	cmd.Flags().StringVar(&format, "format", "cloudevents", "input format: cloudevents, cdnow, online-retail")
	return cmd
}

// logger is the slog logger of the CLI's stores: warnings and errors on stderr.
func (a *app) logger() *slog.Logger {
	return cli.Logger(a.stderr)
}

func (a *app) storeOptions() *eventstore.Options {
	return &eventstore.Options{Clock: a.now, Logger: a.logger()}
}

// readStoreOptions open the log read-only, for the commands that only read
// it: they write nothing and need no free space.
func (a *app) readStoreOptions() *eventstore.Options {
	o := a.storeOptions()
	o.ReadOnly = true
	return o
}

// openInput opens name ("-": stdin) and returns its size (-1 unknown).
// A stdin, pipe or terminal stops being read when ctx ends, also in the
// middle of a read waiting for input (interruptible).
func (a *app) openInput(ctx context.Context, name string) (io.Reader, int64, func() error, error) {
	if name == "-" {
		return &interruptible{ctx: ctx, r: a.stdin}, -1, func() error { return nil }, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s is a directory, not a file of touchpoints (one JSON event a line; - reads stdin)", name)
	} else if err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	if size < 0 {
		return &interruptible{ctx: ctx, r: f}, size, f.Close, nil
	}
	return f, size, f.Close, nil
}

// interruptible is r whose Read returns ctx's error once ctx ends, also
// while a read of r is waiting for input (an idle pipe, a FIFO, a
// terminal): an interrupted import or publish then drains what it has read
// instead of waiting for a line that may never come. The read left waiting
// ends on its own (the process is about to exit).
type interruptible struct {
	ctx  context.Context
	r    io.Reader
	buf  []byte
	done chan readResult
}

type readResult struct {
	n   int
	err error
}

func (ir *interruptible) Read(p []byte) (int, error) {
	if err := ir.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if ir.done == nil {
		ir.done = make(chan readResult, 1)
	}
	if cap(ir.buf) < len(p) {
		ir.buf = make([]byte, len(p))
	}
	buf := ir.buf[:len(p)]
	go func() {
		n, err := ir.r.Read(buf)
		ir.done <- readResult{n, err}
	}()
	select {
	case res := <-ir.done:
		return copy(p, buf[:res.n]), res.err
	case <-ir.ctx.Done():
		return 0, ir.ctx.Err()
	}
}

func (a *app) runImport(ctx context.Context, name string, conv converter) error {
	in, size, closeIn, err := a.openInput(ctx, name)
	if err != nil {
		return err
	}
	defer closeIn()
	counted := &countingReader{r: in}
	text, err := skipBOM(counted)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	src, err := conv(text) // a format that reads no gzip refuses one here, unread
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if name != "-" {
		if err := checkGzip(name); err != nil {
			return fmt.Errorf("%s: %w; nothing imported", name, err)
		}
	}
	store, err := a.openLog(true, a.storeOptions())
	if err != nil {
		return err
	}
	defer store.Close()

	start := a.now()
	bar := cli.NewByteProgress(a.stderr, size, "import")
	originName := name
	if name == "-" {
		originName = "stdin"
	}
	imp := &importer{store: store, now: a.now, origin: "import:" + originName}
	var runErr error
	for {
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		raw, line, rej, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			runErr = fmt.Errorf("%s: %w", name, err)
			break
		}
		imp.read++
		if rej != nil {
			if err := imp.reject(ctx, line, raw, rej); err != nil {
				runErr = err
				break
			}
		} else if err := imp.add(ctx, line, raw); err != nil {
			runErr = err
			break
		}
		bar.Set(counted.n)
		bar.Events(int64(imp.read))
	}
	// Drain: what was read is appended even when interrupted.
	if err := imp.flush(ctx); err != nil && runErr == nil {
		runErr = err
	}
	bar.Finish()
	imp.sum.timing = a.timed(start, uint64(imp.read))
	if err := a.printImportSummary(imp.sum); err != nil {
		return err
	}
	return runErr
}

func (a *app) printImportSummary(s importSummary) error {
	if a.jsonOut {
		return a.printJSON(s)
	}
	a.printf("appended %d, duplicates %d, rejected %d (see journey quarantine list); %d events read %s\n",
		s.Appended, s.Duplicates, s.Rejected, s.Appended+s.Duplicates+s.Rejected, s.timing)
	return nil
}

// importer batches decoded events into Appends and quarantines the rest.
type importer struct {
	store  *eventstore.Store
	now    func() time.Time
	origin string
	reqs   []eventstore.Request
	lines  []int
	sum    importSummary
	read   int // input events (lines, rows) taken so far
}

func (imp *importer) add(ctx context.Context, line int, raw []byte) error {
	ev, err := journey.Decode(raw, imp.now())
	if err != nil {
		return imp.reject(ctx, line, raw, err)
	}
	imp.reqs = append(imp.reqs, eventstore.Request{Event: ev, ExpectedVersion: eventstore.AnyVersion})
	imp.lines = append(imp.lines, line)
	if len(imp.reqs) >= importBatch {
		return imp.flush(ctx)
	}
	return nil
}

// flush appends the batch. It finishes even when ctx has ended (an
// interrupt): an Append cut short may have stored the batch, and its retry
// in the drain would count those events as duplicates; runImport looks at
// ctx between lines.
func (imp *importer) flush(ctx context.Context) error {
	if len(imp.reqs) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	res, err := imp.store.Append(ctx, imp.reqs)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	for i, r := range res {
		switch {
		case r.Err != nil:
			if err := imp.reject(ctx, imp.lines[i], imp.reqs[i].Event.Raw, r.Err); err != nil {
				return err
			}
		case r.Duplicate:
			imp.sum.Duplicates++
		default:
			imp.sum.Appended++
		}
	}
	imp.reqs, imp.lines = imp.reqs[:0], imp.lines[:0]
	return nil
}

// reject keeps raw in the quarantine with the reason it was refused.
func (imp *importer) reject(ctx context.Context, line int, raw []byte, why error) error {
	ctx = context.WithoutCancel(ctx) // finished when interrupted, as flush

	e := eventstore.QuarantineEntry{
		ReceivedAt: imp.now().UTC(),
		Code:       journey.CodeInvalidJSON,
		Reason:     why.Error(),
		Origin:     fmt.Sprintf("%s:%d", imp.origin, line),
		Raw:        raw,
	}
	var je *journey.Error
	if errors.As(why, &je) {
		e.Code, e.Field = je.Code, je.Field
	}
	if _, err := imp.store.Quarantine(ctx, e); err != nil {
		return fmt.Errorf("quarantine line %d: %w", line, err)
	}
	imp.sum.Rejected++
	return nil
}

// skipBOM returns r without the UTF-8 byte order mark it may start with (a
// mark of the file's encoding, not part of its first line), and refuses a
// UTF-16 input, which would otherwise be quarantined line by line as noise.
func skipBOM(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	b, _ := br.Peek(3)
	switch {
	case len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf:
		_, _ = br.Discard(3)
	case len(b) >= 2 && (b[0] == 0xff && b[1] == 0xfe || b[0] == 0xfe && b[1] == 0xff):
		return nil, fmt.Errorf("the input is UTF-16 (byte order mark % X); journey reads UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)", b[:2])
	case len(b) >= 2 && (b[0] == 0) != (b[1] == 0):
		return nil, errors.New("the input looks like UTF-16 (a NUL in its first two bytes); journey reads UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)")
	}
	return br, nil
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// lineReader reads lines of any length without failing: a line longer
// than maxLineBytes is returned cut to that length with its full size.
type lineReader struct {
	r    *bufio.Reader
	line int
	buf  []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// nextFilled is next's first line that is not blank, copied out of the
// reader's buffer.
func (l *lineReader) nextFilled() (b []byte, line, size int, err error) {
	for {
		if b, line, size, err = l.next(); err != nil {
			return nil, 0, 0, err
		}
		if len(bytes.TrimSpace(b)) > 0 {
			return bytes.Clone(b), line, size, nil
		}
	}
}

// next returns the next line without its line ending (valid until the
// next call), its line number and its full length in bytes.
func (l *lineReader) next() (b []byte, line, size int, err error) {
	l.buf = l.buf[:0]
	var last2 [2]byte // the line's last two bytes read, for its line ending
	for {
		chunk, err := l.r.ReadSlice('\n')
		size += len(chunk)
		if room := maxLineBytes + 2 - len(l.buf); room > 0 {
			l.buf = append(l.buf, chunk[:min(room, len(chunk))]...)
		}
		for _, c := range chunk[max(0, len(chunk)-2):] {
			last2[0], last2[1] = last2[1], c
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, 0, err
		}
		if errors.Is(err, io.EOF) && size == 0 {
			return nil, 0, 0, io.EOF
		}
		l.line++
		// The line ending (\n, \r\n, or a \r at the end of the input) is not
		// part of the line or of its size, also when buf holds only its start.
		if size >= 1 && last2[1] == '\n' {
			size--
			last2[1] = last2[0]
		}
		if size >= 1 && last2[1] == '\r' {
			size--
		}
		b = l.buf[:min(len(l.buf), size)]
		if len(b) > maxLineBytes {
			b = b[:maxLineBytes]
		}
		return b, l.line, size, nil
	}
}
