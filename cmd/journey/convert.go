package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	journey "github.com/journey-cdp/journey"
)

// source yields the raw events of an input, one at a time. rej is set
// when the input line itself is refused before decoding (too long, a
// row that does not convert); raw then holds the line for the quarantine.
// raw is owned by the caller. err is io.EOF at the end.
type source interface {
	next() (raw []byte, line int, rej error, err error)
}

// converter turns an input stream into a source of raw CloudEvents.
type converter func(io.Reader) (source, error)

var converters = map[string]converter{
	"cloudevents":   newJSONLSource,
	"jsonl":         newJSONLSource,
	"cdnow":         newCDNOWSource,
	"online-retail": newRetailSource,
}

// jsonlSource reads one CloudEvent per line.
type jsonlSource struct{ lr *lineReader }

func newJSONLSource(r io.Reader) (source, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if err := refuseGzip(br, "cloudevents"); err != nil {
		return nil, err
	}
	return &jsonlSource{newLineReader(br)}, nil
}

// refuseGzip refuses a gzip-compressed input to a format that reads text,
// which would otherwise be quarantined line by line as noise.
func refuseGzip(br *bufio.Reader, format string) error {
	if isGzip(br) {
		return fmt.Errorf("the input is gzip-compressed; --format %s reads it uncompressed: decompress it first (zcat FILE | journey import --format %s -)", format, format)
	}
	return nil
}

func (s *jsonlSource) next() ([]byte, int, error, error) {
	raw, line, size, err := s.lr.nextFilled()
	if err != nil {
		return nil, 0, nil, err
	}
	if size > maxLineBytes {
		return raw, line, &journey.Error{Code: journey.CodeTooLarge,
			Rule: fmt.Sprintf("line is %d bytes, more than %d (first %d bytes kept)", size, journey.MaxEventBytes, maxLineBytes)}, nil
	}
	return raw, line, nil, nil
}

// cloudEvent is what the converters write, attributes in the usual order.
type cloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            any    `json:"data"`
}

func marshalEvent(id, src string, kind journey.Kind, subject string, t time.Time, data any) []byte {
	b, err := json.Marshal(cloudEvent{"1.0", id, src, string(kind), subject, t.UTC().Format(time.RFC3339), "application/json", data},
		json.Deterministic(true))
	if err != nil {
		panic(fmt.Sprintf("convert: marshal: %v", err)) // strings and ints only
	}
	return b
}

type purchaseData struct {
	OrderID  string `json:"order_id"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Items    int    `json:"items,omitzero"`
	Channel  string `json:"channel,omitempty"`
}

type returnData struct {
	OrderID  string `json:"order_id"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Kind     string `json:"kind"`
	Reason   string `json:"reason,omitempty"`
}

type profileData struct {
	Kind    string `json:"kind"`
	Country string `json:"country,omitempty"`
}

// badRow is the rejection of a row that does not convert; field names its
// column ("" for the row as a whole).
func badRow(format, field, why string) error {
	return &journey.Error{Code: journey.CodeInvalidField, Field: field, Rule: format + " row: " + why}
}

// longRow is the rejection of a line longer than maxLineBytes.
func longRow(format string, size int) error {
	return &journey.Error{Code: journey.CodeTooLarge,
		Rule: fmt.Sprintf("%s row: line is %d bytes, more than %d (first %d bytes kept)", format, size, maxLineBytes, maxLineBytes)}
}

// cdnowSource converts the CDNOW purchase log: "master_id date cds dollars"
// (CDNOW_master.txt) or "master_id sample_id date cds dollars"
// (CDNOW_sample.txt). Customer "cdnow-<master id>", a purchase in USD at
// 00:00 UTC of the date, id "cdnow-<master>-<date>-<n>" (n counts that
// customer's rows of that date), so that both files give the same ids.
type cdnowSource struct {
	lr   *lineReader
	seen map[string]int
}

func newCDNOWSource(r io.Reader) (source, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if err := refuseGzip(br, "cdnow"); err != nil {
		return nil, err
	}
	return &cdnowSource{lr: newLineReader(br), seen: map[string]int{}}, nil
}

func (s *cdnowSource) next() ([]byte, int, error, error) {
	for {
		b, line, size, err := s.lr.next()
		if err != nil {
			return nil, 0, nil, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || line == 1 && !isDigits(f[0]) {
			continue // blank or header
		}
		raw := bytes.Clone(b)
		if size > maxLineBytes {
			return raw, line, longRow("cdnow", size), nil
		}
		if len(f) == 5 {
			f = append(f[:1], f[2:]...) // drop the sample id
		}
		if len(f) != 4 {
			return raw, line, badRow("cdnow", "", fmt.Sprintf("%d fields, want 4 or 5", len(f))), nil
		}
		id, date, cds, value := f[0], f[1], f[2], f[3]
		if !isDigits(id) {
			return raw, line, badRow("cdnow", "customer_id", fmt.Sprintf("%q is not digits", id)), nil
		}
		t, err := time.Parse("20060102", date)
		if err != nil {
			return raw, line, badRow("cdnow", "date", fmt.Sprintf("%q is not a date yyyymmdd", date)), nil
		}
		n, err := strconv.Atoi(cds)
		if err != nil || n < 0 {
			return raw, line, badRow("cdnow", "number_of_cds", fmt.Sprintf("%q is not a whole number ≥ 0", cds)), nil
		}
		key := id + "-" + date
		s.seen[key]++
		evID := fmt.Sprintf("cdnow-%s-%d", key, s.seen[key])
		return marshalEvent(evID, "import/cdnow", journey.KindPurchase, "cdnow-"+id, t,
			purchaseData{OrderID: evID, Amount: value, Currency: "USD", Items: n}), line, nil, nil
	}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// retailSource converts the UCI Online Retail baskets CSV
// (customer_id,basket_ts,lines,amount_gbp,is_return,country), gzipped or
// not: a profile with the country at each customer's first basket, then a
// purchase per basket or a return (is_return=1, amount made positive).
// Customer "retail-<id>"; basket times are taken as UTC.
type retailSource struct {
	lr      *lineReader
	seen    map[string]bool
	baskets map[string]int
	queue   [][]byte
	qline   int
}

func newRetailSource(r io.Reader) (source, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if isGzip(br) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipError(err)
		}
		in = &gzipReader{zr}
	}
	return &retailSource{lr: newLineReader(in), seen: map[string]bool{}, baskets: map[string]int{}}, nil
}

// isGzip reports whether br starts with the gzip magic number.
func isGzip(br *bufio.Reader) bool {
	magic, err := br.Peek(2)
	return err == nil && magic[0] == 0x1f && magic[1] == 0x8b
}

// gzipReader is a gzip stream whose errors say what is wrong in journey's
// words.
type gzipReader struct{ zr *gzip.Reader }

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(err)
	}
	return n, err
}

// gzipError describes a damaged gzip stream.
func gzipError(err error) error {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("the gzip stream is cut short (a truncated file?)")
	case errors.Is(err, gzip.ErrChecksum):
		return errors.New("the gzip stream is damaged: its checksum does not match what it holds")
	case errors.Is(err, gzip.ErrHeader):
		return errors.New("the gzip stream is damaged: its header is invalid")
	case errors.As(err, &ce):
		return fmt.Errorf("the gzip stream is damaged at compressed byte %d", int64(ce))
	}
	return err
}

// checkGzip reads the gzip stream of file name through, if it is one, so
// that a damaged or truncated file is refused before anything is imported
// (a stream's checksum is only known at its end).
func checkGzip(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if !isGzip(br) {
		return nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return gzipError(err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return gzipError(err)
	}
	return nil
}

func (s *retailSource) next() ([]byte, int, error, error) {
	for {
		if len(s.queue) > 0 {
			b := s.queue[0]
			s.queue = s.queue[1:]
			return b, s.qline, nil, nil
		}
		// One row a line (the format has no quoted line breaks), so a
		// damaged row, an unclosed quote included, is that line alone.
		raw, line, size, err := s.lr.nextFilled()
		if err != nil {
			return nil, 0, nil, err
		}
		if size > maxLineBytes {
			return raw, line, longRow("online-retail", size), nil
		}
		cr := csv.NewReader(bytes.NewReader(raw))
		cr.FieldsPerRecord = -1
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return raw, line, badRow("online-retail", "", err.Error()), nil
		}
		if line == 1 && rec[0] == "customer_id" {
			continue
		}
		if len(rec) != 6 {
			return raw, line, badRow("online-retail", "", fmt.Sprintf("%d fields, want 6", len(rec))), nil
		}
		cust, ts, lines, amount, isReturn, country := rec[0], rec[1], rec[2], rec[3], rec[4], rec[5]
		cust = strings.TrimSuffix(cust, ".0")
		if !isDigits(cust) {
			return raw, line, badRow("online-retail", "customer_id", fmt.Sprintf("%q is not digits", cust)), nil
		}
		t, err := time.Parse("2006-01-02T15:04:05", ts)
		if err != nil {
			return raw, line, badRow("online-retail", "basket_ts", fmt.Sprintf("%q is not a time yyyy-mm-ddThh:mm:ss", ts)), nil
		}
		n, err := strconv.Atoi(lines)
		if err != nil || n < 0 {
			return raw, line, badRow("online-retail", "lines", fmt.Sprintf("%q is not a whole number ≥ 0", lines)), nil
		}
		subject := "retail-" + cust
		if !s.seen[cust] {
			s.seen[cust] = true
			s.queue = append(s.queue, marshalEvent("retail-profile-"+cust, "import/online-retail", journey.KindProfile, subject, t,
				profileData{Kind: "individual", Country: countryCodes[country]}))
		}
		basket := "retail-" + cust + "-" + t.Format("20060102T150405")
		kind := journey.KindPurchase
		if isReturn == "1" {
			kind = journey.KindReturn
			basket += "-r"
		}
		s.baskets[basket]++
		id := fmt.Sprintf("%s-%d", basket, s.baskets[basket])
		if kind == journey.KindReturn {
			amount = strings.TrimPrefix(amount, "-") // a return's amount is negative in the data
		}
		var data any = purchaseData{OrderID: id, Amount: amount, Currency: "GBP", Items: n, Channel: "web"}
		if kind == journey.KindReturn {
			data = returnData{OrderID: id, Amount: amount, Currency: "GBP", Kind: "refund", Reason: "cancelled"}
		}
		s.queue = append(s.queue, marshalEvent(id, "import/online-retail", kind, subject, t, data))
		s.qline = line
	}
}

// countryCodes maps the Online Retail data set's country names to ISO
// 3166-1 alpha-2; names without one code (Channel Islands, European
// Community, Unspecified) give a profile without a country.
var countryCodes = map[string]string{
	"United Kingdom": "GB", "Germany": "DE", "France": "FR", "EIRE": "IE", "Belgium": "BE",
	"Spain": "ES", "Netherlands": "NL", "Switzerland": "CH", "Portugal": "PT", "Australia": "AU",
	"Italy": "IT", "Finland": "FI", "Sweden": "SE", "Norway": "NO", "Japan": "JP", "Poland": "PL",
	"Denmark": "DK", "Cyprus": "CY", "Austria": "AT", "Singapore": "SG", "Malta": "MT", "USA": "US",
	"Iceland": "IS", "Israel": "IL", "Greece": "GR", "Canada": "CA", "Czech Republic": "CZ",
	"Lithuania": "LT", "United Arab Emirates": "AE", "Saudi Arabia": "SA", "Bahrain": "BH",
	"RSA": "ZA", "Lebanon": "LB", "Brazil": "BR",
}
