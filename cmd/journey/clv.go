package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-cdp/journey"
	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections/bgnbd"
	"github.com/journey-cdp/journey/projections/gammagamma"
	"github.com/spf13/cobra"
)

// clvModelName is the model file of journey clv fit: DATA/models/clv.json.
const clvModelName = "clv"

// clvModel is the stored CLV model: a transaction model and the
// Gamma-Gamma spend model, fitted on the purchases in one currency up to
// AsOf.
type clvModel struct {
	AsOf     time.Time `json:"as_of"`
	Unit     string    `json:"unit"`
	Currency string    `json:"currency"`
	// Transactions is the BG/NBD or Pareto/NBD fit (as churn fit stores it).
	Transactions churnFitLine `json:"transactions"`
	// Spend is the Gamma-Gamma fit on the customers with repeat purchases.
	Spend gammagamma.Model `json:"spend"`
	// PopulationMean is pγ/(q−1), the mean order value (decimal string).
	PopulationMean string `json:"population_mean_order_value"`
	// ZeroSpend is the number of repeat customers left out of the spend
	// fit because their repeat purchases have no value.
	ZeroSpend int `json:"zero_spend_customers,omitzero"`
}

// clvLine is one customer of journey clv show / the summary of clv fit.
// Money is a decimal string in Currency, rounded half away from zero to
// the currency's minor unit.
type clvLine struct {
	Customer  string `json:"customer"`
	Frequency int    `json:"frequency"`
	// PAlive and ExpectedPurchases are null where a degenerate fit leaves
	// them undefined (NaN), as JSON has no NaN.
	PAlive            *float64 `json:"p_alive"`
	ExpectedPurchases *float64 `json:"expected_purchases"`
	ExpectedOrder     string   `json:"expected_order_value"`
	CLV               string   `json:"clv"`
	clv               float64
}

// clvReport is journey clv fit|show --json.
type clvReport struct {
	Model         *clvModel `json:"model,omitempty"`
	Currency      string    `json:"currency"`
	AsOf          time.Time `json:"as_of"`
	HorizonMonths int       `json:"horizon_months"`
	Discount      float64   `json:"monthly_discount"`
	Customers     int       `json:"customers"`
	TotalCLV      string    `json:"total_clv"`
	MeanCLV       string    `json:"mean_clv"`
	Top           []clvLine `json:"customers_by_clv"`
}

func (a *app) clvCommand() *cobra.Command {
	clv := groupCommand("clv fit|show [--horizon 12] [--discount 0.01]", "Customer lifetime value: BG/NBD or Pareto/NBD × Gamma-Gamma spend")
	var horizon, limit int
	var discount float64
	var mf fitFlags
	var currency string
	addValueFlags := func(c *cobra.Command) {
		c.Flags().IntVar(&horizon, "horizon", 12, "horizon in months (30 days each)")
		c.Flags().Float64Var(&discount, "discount", 0.01, "monthly discount rate (0.01 = 1% a month)")
		c.Flags().IntVar(&limit, "limit", 20, "customers to list, highest CLV first (0: all)")
	}
	check := func() error {
		if horizon < 0 || horizon > 1200 {
			return usageErrorf("--horizon %d: want 0..1200 months", horizon)
		}
		if !(discount >= 0 && discount < 1) {
			return usageErrorf("--discount %v: want a monthly rate in [0, 1)", discount)
		}
		if limit < 0 {
			return usageErrorf("--limit %d: want ≥ 0", limit)
		}
		return nil
	}
	fit := &cobra.Command{
		Use:   "fit [--as-of T] [--model bgnbd|pareto-nbd] [--currency CUR] [--horizon 12] [--discount 0.01]",
		Short: "Fit the transaction and Gamma-Gamma spend models and store them",
		Long: `fit reads every purchase in the log up to --as-of (calibration end, inclusive;
default now), merges each customer's purchases of one calendar day (UTC) into one
transaction, and fits
  the transaction model  BG/NBD (default) or Pareto/NBD, as churn fit, and
  the spend model        Gamma-Gamma (Fader, Hardie & Lee 2005) on the customers
                         with repeat purchases, from the mean value of their
                         repeat transactions (the first purchase left out).
Both are fitted in one currency: purchases in other currencies are refused
unless --currency names the one to use (the others are then left out).
Amounts are read exactly (minor units); order values and CLV come out rounded
half away from zero to the currency's minor unit. It prints both fits with
their diagnostics and the CLV over --horizon months at --discount a month, and
stores the model in DATA/models/clv.json for clv show.`,
		Example: `  journey clv fit --as-of 1997-09-30
  journey clv fit --as-of 1997-09-30 --model pareto-nbd --horizon 12 --discount 0.01`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := a.calibrationEnd(&mf, check)
			if err != nil {
				return err
			}
			return a.runCLVFit(cmd.Context(), at, mf.unit, mf.model, strings.ToUpper(currency), horizon, discount, limit)
		},
	}
	mf.add(fit)
	fit.Flags().StringVar(&currency, "currency", "", "the currency to fit (required when purchases are in several)")
	addValueFlags(fit)
	show := &cobra.Command{
		Use:   "show [CUSTOMER...] [--horizon 12] [--discount 0.01] [--limit 20]",
		Short: "Show the expected order value and discounted CLV of customers from the stored model",
		Long: `show applies the model of clv fit to each customer's purchases up to the model's
calibration end: P(alive), the expected purchases over --horizon months, the
expected order value E[M] and the discounted CLV
  CLV = Σ_{m=1..horizon} E[M] · (E[Y(30m days)] − E[Y(30(m−1) days)]) / (1+discount)^m
(the formula of lifetimes' customer_lifetime_value). Without CUSTOMER it lists
the --limit customers with the highest CLV and the total.`,
		Example: `  journey clv show --horizon 12 --discount 0.01
  journey clv show cdnow-00004 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := check(); err != nil {
				return err
			}
			return a.runCLVShow(cmd.Context(), args, horizon, discount, limit)
		},
	}
	addValueFlags(show)
	clv.AddCommand(fit, show)
	return clv
}

// spendCustomer is one customer's purchase days (ascending) up to the
// calibration end and the day's total amount in minor units.
type spendCustomer struct {
	id      string
	days    []int
	amounts []int64
}

// purchaseSpend scans the log for purchases up to asOf's day and returns
// each customer's days and daily amounts in one currency: currency, or the
// only one seen. It refuses purchases in several currencies without
// currency, naming them.
func (a *app) purchaseSpend(ctx context.Context, asOf time.Time, currency string) ([]spendCustomer, string, error) {
	store, err := a.openLog(false, a.readStoreOptions())
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	asOfDay := bgnbd.Day(asOf)
	byCur := map[string]map[string]map[int]int64{} // currency → customer → day → amount
	var ev journey.Event
	err = store.Scan(ctx, 1, 0, func(r *eventstore.Record) error {
		if r.Type != journey.KindPurchase {
			return nil
		}
		day := bgnbd.Day(r.EventTime)
		if day > asOfDay {
			return nil
		}
		if err := journey.DecodeStoredInto(r.Raw, &ev); err != nil {
			return fmt.Errorf("event %d: %w", r.Seq, err)
		}
		if ev.Data.Currency == "" {
			return nil // a purchase without an amount
		}
		cs := byCur[ev.Data.Currency]
		if cs == nil {
			cs = map[string]map[int]int64{}
			byCur[ev.Data.Currency] = cs
		}
		days := cs[r.Customer]
		if days == nil {
			days = map[int]int64{}
			cs[strings.Clone(r.Customer)] = days
		}
		days[day] += ev.Data.Amount
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	curs := slices.Sorted(func(yield func(string) bool) {
		for c := range byCur {
			if !yield(c) {
				return
			}
		}
	})
	switch {
	case currency != "":
		if _, ok := byCur[currency]; !ok {
			return nil, "", &journey.Error{Code: journey.CodeInvalidField, Field: "currency",
				Rule: fmt.Sprintf("no purchase up to %s is in %q (purchases are in %s)", asOf.Format(time.DateOnly), currency, orNone(curs))}
		}
	case len(curs) == 0:
		return nil, "", fmt.Errorf("clv: no purchase with an amount on or before %s", asOf.Format(time.DateOnly))
	case len(curs) > 1:
		return nil, "", &journey.Error{Code: journey.CodeInvalidField, Field: "currency",
			Rule: fmt.Sprintf("purchases are in several currencies (%s); CLV is fitted one currency at a time: choose one with --currency", strings.Join(curs, ", "))}
	default:
		currency = curs[0]
	}
	var out []spendCustomer
	for id, days := range byCur[currency] {
		c := spendCustomer{id: id}
		for _, d := range slices.Sorted(func(yield func(int) bool) {
			for d := range days {
				if !yield(d) {
					return
				}
			}
		}) {
			c.days = append(c.days, d)
			c.amounts = append(c.amounts, days[d])
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y spendCustomer) int { return strings.Compare(x.id, y.id) })
	return out, currency, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func (a *app) runCLVFit(ctx context.Context, asOf time.Time, unit, model, currency string, horizon int, discount float64, limit int) error {
	unitDays, _ := unitDaysOf(unit)
	cs, currency, err := a.purchaseSpend(ctx, asOf, currency)
	if err != nil {
		return err
	}
	exp, _ := journey.CurrencyExponent(currency)
	tx := make([]bgnbd.Customer, len(cs))
	spend := make([]gammagamma.Customer, 0, len(cs))
	m := &clvModel{AsOf: asOf.UTC(), Unit: unit, Currency: currency}
	for i, c := range cs {
		tx[i] = bgnbd.FromPurchaseDays(c.days, bgnbd.Day(asOf), unitDays)
		s := gammagamma.FromMinor(c.amounts[1:], exp)
		if s.X > 0 && !(s.Mean > 0) {
			m.ZeroSpend++
			continue
		}
		spend = append(spend, s)
	}
	if m.Transactions, err = fitTransactions(ctx, model, tx, unit, asOf); err != nil {
		return err
	}
	m.Spend, err = gammagamma.Fit(ctx, spend, gammagamma.Params{})
	if err != nil && !(errors.Is(err, gammagamma.ErrNotConverged) && m.Spend.Params.Valid() && m.Spend.Q > 1) {
		return fmt.Errorf("clv: spend fit: %w", err)
	}
	m.PopulationMean = journey.FormatAmount(gammagamma.RoundMinor(m.Spend.PopulationMean(), exp), currency)
	stored, err := a.saveModel(clvModelName, m)
	if err != nil {
		return err
	}
	if err := a.storeCLV(ctx, m, horizon, discount); err != nil {
		return err
	}
	rep := clvValues(m, cs, nil, horizon, discount, limit)
	rep.Model = m
	if a.jsonOut {
		return a.printJSON(rep)
	}
	a.printf("transactions: %s fit on %d customers, calibration to %s, unit %s\n", m.Transactions.Model, m.Transactions.Customers, m.AsOf.Format(time.DateOnly), unit)
	a.printf("%s", m.Transactions.Diagnostics.Text())
	a.printf("spend: Gamma-Gamma fit on %d repeat customers, %s", m.Spend.Customers, currency)
	if m.ZeroSpend > 0 {
		a.printf(" (%d with repeat purchases of no value left out)", m.ZeroSpend)
	}
	a.printf("; mean order value pγ/(q−1) = %s %s\n", m.PopulationMean, currency)
	a.printf("%s", m.Spend.Diagnostics.Text())
	a.printCLV(rep)
	a.printf("stored: %s (journey clv show)\n", stored)
	return nil
}

func (a *app) runCLVShow(ctx context.Context, ids []string, horizon int, discount float64, limit int) error {
	var m clvModel
	if err := a.loadModel(clvModelName, &m, "journey clv fit"); err != nil {
		return err
	}
	cs, _, err := a.purchaseSpend(ctx, m.AsOf, m.Currency)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		known := map[string]bool{}
		for _, c := range cs {
			known[c.id] = true
		}
		for _, id := range ids {
			if !known[id] {
				return fmt.Errorf("clv show: customer %q has no purchase in %s on or before %s", id, m.Currency, m.AsOf.Format(time.DateOnly))
			}
		}
	}
	rep := clvValues(&m, cs, ids, horizon, discount, limit)
	if a.jsonOut {
		return a.printJSON(rep)
	}
	a.printf("%s × Gamma-Gamma, calibration to %s, %s\n", m.Transactions.Model, m.AsOf.Format(time.DateOnly), m.Currency)
	a.printCLV(rep)
	return nil
}

// clvValues computes every customer's CLV under m (only ids when given)
// and the total; it lists the limit highest (all of ids).
func clvValues(m *clvModel, cs []spendCustomer, ids []string, horizon int, discount float64, limit int) clvReport {
	exp, _ := journey.CurrencyExponent(m.Currency)
	unitDays, _ := unitDaysOf(m.Unit)
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	tm := m.Transactions.predictor()
	money := func(v float64) string { return journey.FormatAmount(gammagamma.RoundMinor(v, exp), m.Currency) }
	rep := clvReport{Currency: m.Currency, AsOf: m.AsOf, HorizonMonths: horizon, Discount: discount}
	var lines []clvLine
	var total int64
	for _, c := range cs {
		if len(ids) > 0 && !want[c.id] {
			continue
		}
		tx := bgnbd.FromPurchaseDays(c.days, bgnbd.Day(m.AsOf), unitDays)
		order := m.Spend.ExpectedAverageValue(gammagamma.FromMinor(c.amounts[1:], exp))
		v := gammagamma.CLV(tm, tx, order, horizon, discount, unitDays)
		if math.IsNaN(v) {
			v = 0
		}
		total += gammagamma.RoundMinor(v, exp)
		lines = append(lines, clvLine{Customer: c.id, Frequency: int(tx.X), PAlive: definedOrNil(tm.PAlive(tx)),
			ExpectedPurchases: definedOrNil(tm.ConditionalExpected(float64(horizon*gammagamma.DaysPerMonth)/unitDays, tx)),
			ExpectedOrder:     money(order), CLV: money(v), clv: v})
	}
	rep.Customers = len(lines)
	rep.TotalCLV = journey.FormatAmount(total, m.Currency)
	if len(lines) > 0 {
		rep.MeanCLV = journey.FormatAmount(int64(math.Round(float64(total)/float64(len(lines)))), m.Currency)
	}
	slices.SortStableFunc(lines, func(x, y clvLine) int { return cmp.Compare(y.clv, x.clv) })
	if len(ids) == 0 && limit > 0 && len(lines) > limit {
		lines = lines[:limit]
	}
	rep.Top = lines
	return rep
}

func (a *app) printCLV(r clvReport) {
	a.printf("CLV over %d months at %.4g%% a month: %d customers, total %s %s, mean %s %s\n",
		r.HorizonMonths, 100*r.Discount, r.Customers, r.TotalCLV, r.Currency, r.MeanCLV, r.Currency)
	if len(r.Top) == 0 {
		return
	}
	a.printf("  %-20s %9s %8s %10s %12s %12s\n", "customer", "frequency", "p_alive", "purchases", "order value", "clv")
	for _, l := range r.Top {
		a.printf("  %-20s %9d %8s %10s %12s %12s\n", l.Customer, l.Frequency, fixedOrDash(l.PAlive), fixedOrDash(l.ExpectedPurchases), l.ExpectedOrder, l.CLV)
	}
}

// definedOrNil is &v, or nil for NaN or ±Inf.
func definedOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// fixedOrDash is *v with three decimals, or "-" for nil.
func fixedOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}
