package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	journey "github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/customer"
)

// Parquet export (export --format parquet): the events, the customers'
// answers with every score, or the customers' actions, as one Parquet file
// written front to back (stdout works) in row groups of at most
// parquetRowGroup rows and about parquetRowGroupBytes, so memory stays flat whatever the size of the log. Columns are
// Snappy-compressed. The schema is the Go structs below (README, "Parquet
// export"):
//   - timestamps are TIMESTAMP(NANOS, isAdjustedToUTC=true), which hold
//     1677-09-21 to 2262-04-11: a row with a time outside fails the export
//     (parquetTimeCheck), which jsonl and csv carry;
//   - money is DECIMAL(18,4) (int64 ten-thousandths of the major unit, exact
//     for every ISO 4217 currency, whose minor units are at most 4 decimals)
//     beside its ISO 4217 currency column;
//   - absent values (no purchase, no fit) are nulls.

// parquetRowGroup is the most rows per row group, parquetRowGroupBytes
// about the most bytes of values (a row group is buffered until written).
const (
	parquetRowGroup      = 32 * 1024
	parquetRowGroupBytes = 8 << 20
)

// parquetBatch is the rows handed to the writer at once.
const parquetBatch = 512

// moneyScale is the DECIMAL scale of money columns.
const moneyScale = 4

// ParquetEvent is one row of --what events.
type ParquetEvent struct {
	Seq        int64     `parquet:"seq"`
	Version    int64     `parquet:"version"`
	RecordedAt time.Time `parquet:"recorded_at,timestamp(nanosecond:utc)"`
	Time       time.Time `parquet:"time,timestamp(nanosecond:utc)"`
	ID         string    `parquet:"id"`
	Customer   string    `parquet:"customer,dict"`
	Type       string    `parquet:"type,dict"`
	Source     string    `parquet:"source,dict"`
	// Amount and Currency: of a purchase or a return (null otherwise).
	Amount   *int64  `parquet:"amount,optional,decimal(4:18)"`
	Currency *string `parquet:"currency,optional,dict"`
	Hash     string  `parquet:"hash"`       // the chain hash after the event, hex
	Event    string  `parquet:"event,json"` // the event exactly as received
}

// ParquetMoney is an amount in one currency.
type ParquetMoney struct {
	Currency string `parquet:"currency"`
	Amount   int64  `parquet:"amount,decimal(4:18)"`
}

// ParquetAction is a reaction asked for a customer.
type ParquetAction struct {
	Customer string     `parquet:"customer"`
	ID       string     `parquet:"id"`
	Kind     string     `parquet:"kind,dict"`
	Reason   string     `parquet:"reason"`
	CaseID   string     `parquet:"case_id"`
	Status   string     `parquet:"status,dict"`
	AskedAt  time.Time  `parquet:"asked_at,timestamp(nanosecond:utc)"`
	DoneAt   *time.Time `parquet:"done_at,optional,timestamp(nanosecond:utc)"`
}

// ParquetCustomer is one row of --what customers: the answer with every score.
type ParquetCustomer struct {
	Customer        string    `parquet:"customer"`
	AsOf            time.Time `parquet:"as_of,timestamp(nanosecond:utc)"`
	Stage           string    `parquet:"stage,dict"`
	HighestStage    string    `parquet:"highest_stage,dict"`
	Flags           []string  `parquet:"flags,list"`
	Types           []string  `parquet:"types,list"`
	Segments        []string  `parquet:"segments,list"`
	Satisfaction    float64   `parquet:"satisfaction"`
	Churn           string    `parquet:"churn,dict"`
	ExpectedGapDays float64   `parquet:"expected_gap_days"`
	RecencyDays     *float64  `parquet:"recency_days,optional"`
	PAlive          *float64  `parquet:"p_alive,optional"`
	ExpectedNext    *float64  `parquet:"expected_purchases_next_period,optional"`
	// ChurnModel names the model of PAlive and ExpectedNext: bgnbd or pareto-nbd.
	ChurnModel *string `parquet:"churn_model,optional,dict"`
	// The CLV under the stored clv fit (all null without one, or without a
	// purchase in its currency): money in CLVCurrency.
	CLVCurrency        *string         `parquet:"clv_currency,optional,dict"`
	ExpectedOrderValue *int64          `parquet:"expected_order_value,optional,decimal(4:18)"`
	CLV                *int64          `parquet:"clv,optional,decimal(4:18)"`
	CLVHorizonMonths   *int32          `parquet:"clv_horizon_months,optional"`
	CLVDiscount        *float64        `parquet:"clv_monthly_discount,optional"`
	RFMSegment         *string         `parquet:"rfm_segment,optional,dict"`
	RFMR               *int32          `parquet:"rfm_r,optional"`
	RFMF               *int32          `parquet:"rfm_f,optional"`
	RFMM               *int32          `parquet:"rfm_m,optional"`
	Cluster            *string         `parquet:"cluster,optional,dict"`
	FirstSeen          *time.Time      `parquet:"first_seen,optional,timestamp(nanosecond:utc)"`
	LastSeen           *time.Time      `parquet:"last_seen,optional,timestamp(nanosecond:utc)"`
	FirstPurchase      *time.Time      `parquet:"first_purchase,optional,timestamp(nanosecond:utc)"`
	LastPurchase       *time.Time      `parquet:"last_purchase,optional,timestamp(nanosecond:utc)"`
	Events             int64           `parquet:"events"`
	Visits             int64           `parquet:"visits"`
	Purchases          int64           `parquet:"purchases"`
	Items              int64           `parquet:"items"`
	Revenue            []ParquetMoney  `parquet:"revenue,list"`
	Refunds            []ParquetMoney  `parquet:"refunds,list"`
	Returns            int64           `parquet:"returns"`
	Complaints         int64           `parquet:"complaints"`
	Resolved           int64           `parquet:"complaints_resolved"`
	OpenComplaints     int64           `parquet:"open_complaints"`
	Feedbacks          int64           `parquet:"feedbacks"`
	ReferralsMade      int64           `parquet:"referrals_made"`
	Actions            []ParquetAction `parquet:"actions,list"`
}

// parquetMinTime and parquetMaxTime are the instants a TIMESTAMP(NANOS)
// holds (int64 nanoseconds from 1970); the engine takes years 0001 to 9999.
var (
	parquetMinTime = time.Unix(0, math.MinInt64).UTC()
	parquetMaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// parquetTimeCheck refuses t in column of record when a TIMESTAMP(NANOS)
// cannot hold it (parquet-go would write it wrapped round).
func parquetTimeCheck(record, column string, t time.Time) error {
	if parquetInRange(t) {
		return nil
	}
	return fmt.Errorf("%s: %s %s %s", record, column, t.UTC().Format(time.RFC3339Nano), parquetTimeRule)
}

// parquetTimeRule ends the refusal of a time a TIMESTAMP(NANOS) cannot hold.
var parquetTimeRule = fmt.Sprintf("is outside what Parquet TIMESTAMP(NANOS) holds (%s to %s): export it as jsonl or csv",
	parquetMinTime.Format(time.DateOnly), parquetMaxTime.Format(time.DateOnly))

// parquetInRange reports whether a TIMESTAMP(NANOS) holds t.
func parquetInRange(t time.Time) bool { return !t.Before(parquetMinTime) && !t.After(parquetMaxTime) }

// parquetOptTimeCheck is parquetTimeCheck of an optional column (nil is null).
func parquetOptTimeCheck(record, column string, t *time.Time) error {
	if t == nil {
		return nil
	}
	return parquetTimeCheck(record, column, *t)
}

// checkParquetAction checks the times of action x of record (prefix: its
// columns' path, "" or "actions.").
func checkParquetAction(record, prefix string, x *ParquetAction) error {
	if err := parquetTimeCheck(record, prefix+"asked_at", x.AskedAt); err != nil {
		return err
	}
	return parquetOptTimeCheck(record, prefix+"done_at", x.DoneAt)
}

// checkParquetCustomer checks every time of row, the n-th (from 1): as
// "customer row n", not its id.
func checkParquetCustomer(n uint64, row *ParquetCustomer) error {
	record := fmt.Sprintf("customer row %d", n)
	if err := parquetTimeCheck(record, "as_of", row.AsOf); err != nil {
		return err
	}
	for _, c := range []struct {
		column string
		t      *time.Time
	}{{"first_seen", row.FirstSeen}, {"last_seen", row.LastSeen}, {"first_purchase", row.FirstPurchase}, {"last_purchase", row.LastPurchase}} {
		if err := parquetOptTimeCheck(record, c.column, c.t); err != nil {
			return err
		}
	}
	for i := range row.Actions {
		if err := checkParquetAction(record, "actions.", &row.Actions[i]); err != nil {
			return err
		}
	}
	return nil
}

// parquetWriter batches rows into a GenericWriter of row groups of
// parquetRowGroup rows.
type parquetWriter[T any] struct {
	w     *parquet.GenericWriter[T]
	batch []T
	n     uint64
	bytes int // about the bytes of the rows since the last row group
}

func newParquetWriter[T any](out io.Writer, what string) *parquetWriter[T] {
	w := parquet.NewGenericWriter[T](out,
		parquet.MaxRowsPerRowGroup(parquetRowGroup),
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("journey", version(), ""),
		parquet.KeyValueMetadata("journey.what", what),
	)
	return &parquetWriter[T]{w: w, batch: make([]T, 0, parquetBatch)}
}

// add buffers row, of about size bytes of values; a row group is written
// once parquetRowGroupBytes are buffered (or parquetRowGroup rows).
func (p *parquetWriter[T]) add(row T, size int) error {
	p.batch = append(p.batch, row)
	p.n++
	p.bytes += size
	if len(p.batch) == cap(p.batch) || p.bytes >= parquetRowGroupBytes {
		if err := p.flush(); err != nil {
			return err
		}
		if p.bytes >= parquetRowGroupBytes {
			p.bytes = 0
			return p.w.Flush()
		}
	}
	return nil
}

func (p *parquetWriter[T]) flush() error {
	if len(p.batch) == 0 {
		return nil
	}
	_, err := p.w.Write(p.batch)
	clear(p.batch)
	p.batch = p.batch[:0]
	return err
}

func (p *parquetWriter[T]) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

// exportParquet writes what (events, customers or actions) as Parquet to
// w and returns how many rows.
func (a *app) exportParquet(ctx context.Context, w io.Writer, what string, asOf time.Time, config, server string) (uint64, error) {
	switch what {
	case "events":
		return a.exportEventsParquet(ctx, w, server)
	case "customers", "actions":
		return a.exportCustomersParquet(ctx, w, what, asOf, config, server)
	}
	return 0, usageErrorf("--what %q: --format parquet exports events, customers or actions", what)
}

func (a *app) exportEventsParquet(ctx context.Context, w io.Writer, server string) (uint64, error) {
	pw := newParquetWriter[ParquetEvent](w, "events")
	var ev journey.Event
	err := a.eachExportEvent(ctx, server, func(r *eventstore.Record, hash string) error {
		row, err := parquetEventOf(r, hash, &ev)
		if err != nil {
			return err
		}
		return pw.add(row, 96+len(row.Event)+len(row.ID)+len(row.Customer)+len(row.Source))
	})
	if err != nil {
		return pw.n, err
	}
	return pw.n, pw.close()
}

// parquetEventOf is the row of record r (ev is scratch space).
func parquetEventOf(r *eventstore.Record, hash string, ev *journey.Event) (ParquetEvent, error) {
	row := ParquetEvent{Seq: int64(r.Seq), Version: int64(r.Version), RecordedAt: r.RecordedAt.UTC(), Time: r.EventTime.UTC(),
		ID: r.ID, Customer: r.Customer, Type: string(r.Type), Hash: hash, Event: string(r.Raw)}
	record := fmt.Sprintf("event %d", r.Seq)
	if err := parquetTimeCheck(record, "recorded_at", row.RecordedAt); err != nil {
		return row, err
	}
	if err := parquetTimeCheck(record, "time", row.Time); err != nil {
		return row, err
	}
	if r.Erased && len(r.Raw) == 0 {
		// A forgotten customer's event: its place in the chain, no data.
		row.Event = string(r.Stored().Event)
		return row, nil
	}
	if err := journey.DecodeStoredInto(r.Raw, ev); err != nil {
		return row, fmt.Errorf("event %d: %w", r.Seq, err)
	}
	row.Source = ev.Source
	if ev.Type == journey.KindPurchase || ev.Type == journey.KindReturn {
		if ev.Data.Amount != 0 || ev.Data.Currency != "" {
			amt, err := decimalMoney(ev.Data.Amount, ev.Data.Currency)
			if err != nil {
				return row, fmt.Errorf("event %d: %w", r.Seq, err)
			}
			cur := ev.Data.Currency
			row.Amount, row.Currency = &amt, &cur
		}
	}
	return row, nil
}

// decimalMoney is minor units of currency as DECIMAL(18,4) ten-thousandths.
func decimalMoney(minor int64, currency string) (int64, error) {
	exp, ok := journey.CurrencyExponent(currency)
	if !ok {
		exp = 2
	}
	f := int64(math.Pow10(moneyScale - exp))
	if minor > math.MaxInt64/f || minor < math.MinInt64/f || abs64(minor*f) > 999_999_999_999_999_999 {
		return 0, fmt.Errorf("amount %s %s does not fit DECIMAL(18,4)", journey.FormatAmount(minor, currency), currency)
	}
	return minor * f, nil
}

// clvDecimal is a decimal string of the CLV answer (in currency's minor
// unit) as DECIMAL(18,4).
func clvDecimal(amount, currency string) (int64, error) {
	minor, err := journey.ParseAmount(amount, currency)
	if err != nil {
		return 0, err
	}
	return decimalMoney(minor, currency)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func parquetMoney(m customer.Money) ([]ParquetMoney, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make([]ParquetMoney, 0, len(m))
	for _, part := range slices.Sorted(maps.Keys(m)) {
		amt, err := decimalMoney(m[part], part)
		if err != nil {
			return nil, err
		}
		out = append(out, ParquetMoney{Currency: part, Amount: amt})
	}
	return out, nil
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func parquetActions(id string, as []customer.Action) []ParquetAction {
	if len(as) == 0 {
		return nil
	}
	out := make([]ParquetAction, len(as))
	for i, x := range as {
		out[i] = ParquetAction{Customer: id, ID: x.ID, Kind: x.Kind, Reason: x.Reason, CaseID: x.Case, Status: x.Status,
			AskedAt: x.Asked.UTC(), DoneAt: optTime(x.Done)}
	}
	return out
}

// parquetCustomerOf is the row of answer c.
func parquetCustomerOf(c *customer.Answer) (ParquetCustomer, error) {
	s := c.State
	row := ParquetCustomer{Customer: s.Customer, AsOf: c.AsOf.UTC(), Stage: c.Stage, HighestStage: c.HighestStage,
		Flags: c.Flags, Types: c.Types, Segments: c.Segments, Satisfaction: c.Satisfaction, Churn: c.Churn,
		ExpectedGapDays: c.ExpectedGapDays, RecencyDays: c.RecencyDays, PAlive: c.PAlive, ExpectedNext: c.ExpectedNext,
		FirstSeen: optTime(s.FirstSeen), LastSeen: optTime(s.LastSeen), FirstPurchase: optTime(s.FirstPurchase), LastPurchase: optTime(s.LastPurchase),
		Events: int64(s.Events), Visits: int64(s.Visits), Purchases: int64(s.Purchases), Items: int64(s.Items),
		Returns: int64(s.Returns), Complaints: int64(s.Complaints), Resolved: int64(s.ComplaintsResolved),
		OpenComplaints: int64(len(s.OpenComplaints)), Feedbacks: int64(s.Feedbacks), ReferralsMade: int64(s.ReferralsMade),
		Actions: parquetActions(s.Customer, c.Actions)}
	if c.ChurnModel != "" {
		cm := c.ChurnModel
		row.ChurnModel = &cm
	}
	if v := c.CLV; v != nil {
		order, err := clvDecimal(v.ExpectedOrderValue, v.Currency)
		if err != nil {
			return row, fmt.Errorf("customer %s expected order value: %w", journey.Quote(s.Customer), err)
		}
		clv, err := clvDecimal(v.CLV, v.Currency)
		if err != nil {
			return row, fmt.Errorf("customer %s clv: %w", journey.Quote(s.Customer), err)
		}
		cur, h, d := v.Currency, int32(v.HorizonMonths), v.Discount
		row.CLVCurrency, row.ExpectedOrderValue, row.CLV, row.CLVHorizonMonths, row.CLVDiscount = &cur, &order, &clv, &h, &d
	}
	if c.RFM != nil {
		seg, r, f, mm := c.RFM.Segment, int32(c.RFM.R), int32(c.RFM.F), int32(c.RFM.M)
		row.RFMSegment, row.RFMR, row.RFMF, row.RFMM = &seg, &r, &f, &mm
	}
	if c.Cluster != "" { // the views set it (also a server's)
		name := c.Cluster
		row.Cluster = &name
	}
	var err error
	if row.Revenue, err = parquetMoney(s.Revenue); err != nil {
		return row, fmt.Errorf("customer %s revenue: %w", journey.Quote(s.Customer), err)
	}
	if row.Refunds, err = parquetMoney(s.Refunds); err != nil {
		return row, fmt.Errorf("customer %s refunds: %w", journey.Quote(s.Customer), err)
	}
	return row, nil
}

func (a *app) exportCustomersParquet(ctx context.Context, w io.Writer, what string, asOf time.Time, config, server string) (uint64, error) {
	var each func(c *customer.Answer) error
	var n func() uint64
	var closeW func() error
	if what == "actions" {
		pw := newParquetWriter[ParquetAction](w, what)
		each = func(c *customer.Answer) error {
			for _, x := range parquetActions(c.State.Customer, c.Actions) {
				if err := checkParquetAction(fmt.Sprintf("action row %d", pw.n+1), "", &x); err != nil {
					return err
				}
				if err := pw.add(x, 96+len(x.ID)+len(x.Reason)+len(x.Customer)); err != nil {
					return err
				}
			}
			return nil
		}
		n, closeW = func() uint64 { return pw.n }, pw.close
	} else {
		pw := newParquetWriter[ParquetCustomer](w, what)
		each = func(c *customer.Answer) error {
			row, err := parquetCustomerOf(c)
			if err != nil {
				return err
			}
			if err := checkParquetCustomer(pw.n+1, &row); err != nil {
				return err
			}
			return pw.add(row, 512+64*(len(row.Flags)+len(row.Types)+len(row.Segments)+len(row.Revenue)+len(row.Refunds)+len(row.Actions)))
		}
		n, closeW = func() uint64 { return pw.n }, pw.close
	}
	err := a.eachExportCustomer(ctx, asOf, config, server, each)
	if err != nil {
		return n(), err
	}
	return n(), closeW()
}
