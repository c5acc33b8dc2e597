package simulate

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	journey "github.com/journey-cdp/journey"
)

// Config says what to simulate. The output is a pure function of it.
type Config struct {
	Customers   int       // how many customers appear, ≥ 1
	Days        int       // length of the simulated period, ≥ 1
	Seed        uint64    // seeds every random choice
	Start       time.Time // first simulated instant (UTC); zero: DefaultStart()
	InvalidRate float64   // fraction of events written in an invalid variant, 0..1
}

// DefaultStart is the first simulated day when Config.Start is zero:
// a fixed date, so that output never depends on when it is generated.
func DefaultStart() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Customers < 1 {
		errs = append(errs, fmt.Errorf("--customers must be at least 1, got %d", c.Customers))
	}
	if c.Days < 1 {
		errs = append(errs, fmt.Errorf("--days must be at least 1, got %d", c.Days))
	}
	if c.InvalidRate < 0 || c.InvalidRate > 1 || math.IsNaN(c.InvalidRate) {
		errs = append(errs, fmt.Errorf("--invalid-rate must be in [0,1], got %v", c.InvalidRate))
	}
	return errors.Join(errs...)
}

// End is the end of the simulated period: no event time is later.
func (c Config) End() time.Time {
	return c.start().Add(time.Duration(c.Days) * 24 * time.Hour)
}

func (c Config) start() time.Time {
	if c.Start.IsZero() {
		return DefaultStart()
	}
	return c.Start.UTC()
}

// Stats describes what Run wrote.
type Stats struct {
	Customers int                  // customers that appeared
	Events    int                  // lines written
	Invalid   int                  // of which deliberately invalid
	Late      int                  // events that arrived more than an hour after their time (offline tills)
	ByKind    map[journey.Kind]int // valid events per kind
}

// Run writes the simulated journeys to w as JSONL, one event per line, in
// arrival order. It stops early when ctx ends.
func Run(ctx context.Context, w io.Writer, cfg Config) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	g := &gen{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		start:     cfg.start(),
		end:       cfg.End(),
		remaining: cfg.Customers,
		w:         bufio.NewWriterSize(w, 64<<10),
		stats:     Stats{ByKind: map[journey.Kind]int{}},
	}
	if err := g.run(ctx); err != nil {
		return g.stats, err
	}
	return g.stats, g.w.Flush()
}

type archetype uint8

const (
	archProspect archetype = iota
	archWindowShopper
	archOneTime
	archImpulse
	archRepeat
	archPromotional
	archLoyal
	archAdvocate
	archChurner
	archAngry
	archForeign
	archReferred
)

// organic archetype weights (percent); referred customers come from referrals.
var archWeights = [...]struct {
	a archetype
	w int
}{
	{archProspect, 6}, {archWindowShopper, 14}, {archOneTime, 18}, {archImpulse, 4},
	{archRepeat, 16}, {archPromotional, 6}, {archLoyal, 10}, {archAdvocate, 4},
	{archChurner, 10}, {archAngry, 7}, {archForeign, 5},
}

const numStores = 12

// offlineStore reports whether a store's tills often work offline and sync late.
func offlineStore(store int) bool { return store%5 == 2 }

type market struct {
	country, currency string
	exp               int     // ISO 4217 exponent
	scale             float64 // price level relative to EUR
}

var (
	homeMarkets    = []market{{"NL", "EUR", 2, 1}, {"DE", "EUR", 2, 1}, {"BE", "EUR", 2, 1}, {"FR", "EUR", 2, 1}}
	foreignMarkets = []market{{"GB", "GBP", 2, 0.85}, {"US", "USD", 2, 1.1}, {"CH", "CHF", 2, 0.95}, {"JP", "JPY", 0, 160}, {"SE", "SEK", 2, 11.5}}
)

type customer struct {
	idx        int
	id         string
	arch       archetype
	next       time.Time
	step       int // episodes done
	purchases  int
	target     int           // purchases planned (repeat, churner, promotional)
	gap        time.Duration // mean time between episodes
	silentFrom time.Time     // churners: no episode after this
	mkt        market
	channel    string // preferred: store, web, app
	store      int
	business   bool
	lastOrder  string
	lastAmount int64
	referrals  int
	organic    bool // created by the arrival process (not by a referral)
}

type pending struct {
	arrival time.Time
	seq     uint64
	line    []byte
}

type outHeap []pending

func (h outHeap) Len() int { return len(h) }
func (h outHeap) Less(i, j int) bool {
	if !h[i].arrival.Equal(h[j].arrival) {
		return h[i].arrival.Before(h[j].arrival)
	}
	return h[i].seq < h[j].seq
}
func (h outHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *outHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *outHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pending{}
	*h = old[:len(old)-1]
	return x
}

type custHeap []*customer

func (h custHeap) Len() int { return len(h) }
func (h custHeap) Less(i, j int) bool {
	if !h[i].next.Equal(h[j].next) {
		return h[i].next.Before(h[j].next)
	}
	return h[i].idx < h[j].idx
}
func (h custHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *custHeap) Push(x any)   { *h = append(*h, x.(*customer)) }
func (h *custHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

type gen struct {
	cfg        Config
	rng        *rand.Rand
	start, end time.Time
	remaining  int     // customers not yet created
	lastU      float64 // the last organic arrival, as a fraction of the arrival span
	nextIdx    int
	customers  custHeap
	out        outHeap
	seq        uint64
	w          *bufio.Writer
	stats      Stats
	counter    uint64 // for order, case and message ids
}

func (g *gen) run(ctx context.Context) error {
	g.spawnOrganic()
	for n := 0; g.customers.Len() > 0; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c := heap.Pop(&g.customers).(*customer)
		if err := g.flush(c.next); err != nil {
			return err
		}
		if c.step == 0 && c.organic {
			g.spawnOrganic()
		}
		if g.episode(c) && !c.next.After(g.end) {
			heap.Push(&g.customers, c)
		}
	}
	return g.flush(time.Time{})
}

// flush writes the events that arrive no later than t (all when t is zero).
func (g *gen) flush(t time.Time) error {
	for g.out.Len() > 0 && (t.IsZero() || !g.out[0].arrival.After(t)) {
		p := heap.Pop(&g.out).(pending)
		if _, err := g.w.Write(p.line); err != nil {
			return err
		}
		if err := g.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// spawnOrganic schedules the next customer of the arrival process: the
// arrival instants are the order statistics of uniform draws over the
// first 90% of the period, drawn one at a time.
func (g *gen) spawnOrganic() {
	if g.remaining == 0 {
		return
	}
	m := float64(g.remaining)
	g.lastU += (1 - g.lastU) * (1 - math.Pow(g.rng.Float64(), 1/m))
	span := float64(g.end.Sub(g.start)) * 0.9
	at := g.start.Add(time.Duration(g.lastU * span)).Truncate(time.Second)
	c := g.newCustomer(at, g.pickArchetype())
	c.organic = true
	heap.Push(&g.customers, c)
}

func (g *gen) pickArchetype() archetype {
	r := g.rng.IntN(100)
	for _, aw := range archWeights {
		if r < aw.w {
			return aw.a
		}
		r -= aw.w
	}
	return archOneTime
}

func (g *gen) newCustomer(at time.Time, a archetype) *customer {
	g.remaining--
	g.stats.Customers++
	c := &customer{idx: g.nextIdx, arch: a, next: at, store: 1 + g.rng.IntN(numStores)}
	g.nextIdx++
	c.id = g.uuid7(at)
	c.mkt = homeMarkets[g.rng.IntN(len(homeMarkets))]
	if a == archForeign {
		c.mkt = foreignMarkets[g.rng.IntN(len(foreignMarkets))]
		c.business = g.rng.Float64() < 0.3
	} else {
		c.business = g.rng.Float64() < 0.04
	}
	switch r := g.rng.Float64(); {
	case r < 0.55:
		c.channel = "store"
	case r < 0.85:
		c.channel = "web"
	default:
		c.channel = "app"
	}
	day := 24 * time.Hour
	switch a {
	case archWindowShopper:
		c.target = 2 + g.rng.IntN(5)
		c.gap = time.Duration(5+g.rng.IntN(20)) * day
	case archRepeat, archForeign:
		c.target = 2 + g.rng.IntN(4)
		c.gap = time.Duration(10+g.rng.IntN(35)) * day
	case archPromotional:
		c.target = 3 + g.rng.IntN(5)
		c.gap = time.Duration(14+g.rng.IntN(21)) * day
	case archLoyal, archAdvocate:
		c.target = 1 << 20
		c.gap = time.Duration(5+g.rng.IntN(12)) * day
	case archChurner:
		c.target = 1 << 20
		c.gap = time.Duration(6+g.rng.IntN(12)) * day
		frac := 0.2 + 0.35*g.rng.Float64()
		c.silentFrom = at.Add(time.Duration(frac * float64(g.end.Sub(at))))
	case archAngry:
		c.target = 1
		c.gap = time.Duration(20+g.rng.IntN(30)) * day
	case archReferred:
		c.target = 1 + g.rng.IntN(3)
		c.gap = time.Duration(10+g.rng.IntN(30)) * day
	}
	return c
}

// uuid7 returns a UUIDv7-shaped id: t's Unix milliseconds, then random
// bits from the seeded generator.
func (g *gen) uuid7(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	r1, r2 := g.rng.Uint64(), g.rng.Uint64()
	for i := 6; i < 8; i++ {
		b[i] = byte(r1 >> (8 * (i - 6)))
	}
	for i := 8; i < 16; i++ {
		b[i] = byte(r2 >> (8 * (i - 8)))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func (g *gen) newID(prefix string) string {
	g.counter++
	return prefix + strconv.FormatUint(g.rng.Uint64()>>24, 36) + strconv.FormatUint(g.counter, 36)
}

// after returns t plus a random duration in [lo, hi).
func (g *gen) after(t time.Time, lo, hi time.Duration) time.Time {
	return t.Add(lo + time.Duration(g.rng.Int64N(int64(hi-lo)))).Truncate(time.Second)
}

// nextEpisode schedules c's next episode around its mean gap.
func (g *gen) nextEpisode(c *customer) {
	jitter := 0.5 + g.rng.Float64() // 0.5..1.5 of the gap
	c.next = c.next.Add(time.Duration(jitter * float64(c.gap))).Truncate(time.Second)
	// shops are open in the day: move to between 08:00 and 21:00
	day := c.next.Truncate(24 * time.Hour)
	c.next = day.Add(8*time.Hour + time.Duration(g.rng.Int64N(int64(13*time.Hour)))).Truncate(time.Second)
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// episode plays c's next episode at c.next and reports whether c has more.
func (g *gen) episode(c *customer) (more bool) {
	t := c.next
	first := c.step == 0
	c.step++
	if first && (c.business || c.arch == archForeign || c.arch == archProspect || g.chance(0.35)) {
		g.profile(c, t)
		t = g.after(t, time.Minute, 20*time.Minute)
	}
	switch c.arch {
	case archProspect:
		if g.chance(0.6) {
			g.visit(c, t, "web")
		}
		return false
	case archWindowShopper:
		g.visit(c, t, c.channel)
		if g.chance(0.3) {
			g.visit(c, g.after(t, time.Hour, 30*time.Hour), c.channel)
		}
		if g.chance(0.05) {
			g.feedback(c, g.after(t, time.Hour, 48*time.Hour), 3, 5)
		}
		if c.step >= c.target {
			return false
		}
		g.nextEpisode(c)
		return true
	case archImpulse:
		g.purchase(c, t, false, false, 2.5)
		if g.chance(0.15) {
			g.ret(c, g.after(t, 24*time.Hour, 10*24*time.Hour), "changed_mind")
		}
		return false
	case archOneTime:
		g.shop(c, t, false)
		g.aftermath(c, t, 0.35, 0.08, 0.04, 2, 5)
		return false
	case archRepeat, archForeign, archReferred:
		if first && c.arch == archReferred {
			g.visit(c, t, "web")
			t = g.after(t, 10*time.Minute, 2*time.Hour)
		}
		g.shop(c, t, false)
		g.aftermath(c, t, 0.25, 0.06, 0.04, 3, 5)
	case archPromotional:
		g.shop(c, t, true)
		g.aftermath(c, t, 0.15, 0.08, 0.02, 2, 4)
	case archLoyal, archAdvocate:
		g.shop(c, t, false)
		g.aftermath(c, t, 0.2, 0.03, 0.01, 4, 5)
		refP := 0.03
		if c.arch == archAdvocate {
			refP = 0.25
		}
		if c.purchases >= 2 && c.referrals < 3 && g.chance(refP) {
			g.referral(c, g.after(t, time.Hour, 72*time.Hour))
		}
		if g.chance(0.02) {
			g.thankYou(c, g.after(t, 24*time.Hour, 96*time.Hour), "holiday")
		}
	case archChurner:
		if !t.Before(c.silentFrom) {
			// the last contact before going silent: a disappointment
			switch g.rng.IntN(3) {
			case 0:
				g.feedback(c, t, 1, 2)
			case 1:
				g.complaint(c, t, false)
			default:
				g.visit(c, t, c.channel)
			}
			return false
		}
		g.shop(c, t, false)
		g.aftermath(c, t, 0.15, 0.05, 0.03, 2, 4)
	case archAngry:
		if first {
			g.shop(c, t, false)
			g.angry(c, g.after(t, 24*time.Hour, 7*24*time.Hour))
			return g.chance(0.3) // some come back after service recovery
		}
		g.shop(c, t, false)
		g.aftermath(c, t, 0.3, 0.1, 0.1, 2, 4)
		return false
	}
	if c.purchases >= c.target {
		return false
	}
	g.nextEpisode(c)
	return true
}

// shop is a purchase, preceded by a visit for most customers.
func (g *gen) shop(c *customer, t time.Time, promo bool) {
	if c.channel != "store" || g.chance(0.5) {
		g.visit(c, t, c.channel)
		t = g.after(t, 2*time.Minute, 45*time.Minute)
	}
	g.purchase(c, t, promo, c.purchases >= 1 && g.chance(0.1), 1)
}

// aftermath follows a purchase at t: feedback, a return, a complaint, a
// thank-you for a repeat purchase.
func (g *gen) aftermath(c *customer, t time.Time, pFeedback, pReturn, pComplaint float64, lo, hi int) {
	if g.chance(pFeedback) {
		g.feedback(c, g.after(t, 6*time.Hour, 4*24*time.Hour), lo, hi)
	}
	if g.chance(pReturn) {
		g.ret(c, g.after(t, 24*time.Hour, 14*24*time.Hour), "")
	}
	if g.chance(pComplaint) {
		g.complaint(c, g.after(t, 24*time.Hour, 10*24*time.Hour), g.chance(0.7))
	}
	if c.purchases >= 2 && g.chance(0.3) {
		g.thankYou(c, g.after(t, 2*time.Hour, 48*time.Hour), "repeat_purchase")
	}
}

// angry plays the complaint path of an angry customer.
func (g *gen) angry(c *customer, t time.Time) {
	if g.chance(0.5) {
		g.ret(c, t, "defective")
		t = g.after(t, time.Hour, 24*time.Hour)
	}
	g.complaint(c, t, g.chance(0.6))
	if g.chance(0.7) {
		g.feedback(c, g.after(t, time.Hour, 72*time.Hour), 1, 2)
	}
}

var (
	severities  = []string{"low", "medium", "high"}
	categories  = []string{"product", "delivery", "service", "billing", "staff"}
	escalations = []string{"authority", "media", "consumer_association", "legal"}
	outcomes    = []string{"resolved", "resolved", "compensated", "rejected"}
	retReasons  = []string{"defective", "wrong_size", "not_as_described", "changed_mind", "late_delivery"}
	traitsAge   = []string{"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}
	comments    = [...][]string{
		{"terrible service", "never again", "product broke after a week"},
		{"disappointing", "delivery was late"},
		{"ok", "fine", "average experience"},
		{"good value", "friendly staff"},
		{"excellent, will come back", "love this shop", "best service in town"},
	}
)

// complaint opens a case at t; resolved schedules its resolution.
func (g *gen) complaint(c *customer, t time.Time, resolved bool) {
	caseID := g.newID("case-")
	sev := severities[g.rng.IntN(3)]
	d := data{CaseID: caseID, Severity: sev, Category: categories[g.rng.IntN(len(categories))]}
	if sev == "high" && g.chance(0.5) || g.chance(0.08) {
		d.EscalatedTo = escalations[g.rng.IntN(len(escalations))]
	}
	src := "support/phone"
	if g.chance(0.5) {
		src = "support/web"
	}
	g.emit(c, t, journey.KindComplaint, src, d)
	if !resolved {
		return
	}
	rt := g.after(t, 6*time.Hour, 12*24*time.Hour)
	outcome := outcomes[g.rng.IntN(len(outcomes))]
	g.emit(c, rt, journey.KindComplaintResolved, "support/desk", data{CaseID: caseID, Outcome: outcome})
	if outcome != "rejected" && g.chance(0.5) {
		g.thankYou(c, g.after(rt, time.Hour, 24*time.Hour), "complaint_resolved")
	}
}

func (g *gen) tillSource(c *customer) string {
	return fmt.Sprintf("pos/store-%03d/till-%d", c.store, 1+g.rng.IntN(4))
}

func (g *gen) visit(c *customer, t time.Time, channel string) {
	d := data{Channel: channel}
	src := "web/shop"
	switch channel {
	case "store":
		d.StoreID = storeID(c.store)
		src = fmt.Sprintf("pos/store-%03d/door", c.store)
	case "app":
		src = "app/mobile"
	}
	g.emit(c, t, journey.KindVisit, src, d)
}

func storeID(n int) string { return fmt.Sprintf("store-%03d", n) }

// purchase records an order; mult scales its amount.
func (g *gen) purchase(c *customer, t time.Time, promo, big bool, mult float64) {
	items := 1 + g.rng.IntN(4)
	eur := math.Exp(g.rng.NormFloat64()*0.6+math.Log(35)) * float64(items) * mult
	if big {
		eur *= 3
	}
	if c.business {
		eur *= 4
		items *= 5
	}
	amount := g.money(c.mkt, eur)
	d := data{OrderID: g.newID("ord-"), Amount: formatMoney(amount, c.mkt.exp), Currency: c.mkt.currency, Items: items, Channel: c.channel}
	if promo || g.chance(0.08) {
		disc := amount * int64(10+5*g.rng.IntN(4)) / 100
		d.Discount = formatMoney(disc, c.mkt.exp)
	}
	src := "web/shop"
	switch c.channel {
	case "store":
		src = g.tillSource(c)
	case "app":
		src = "app/mobile"
	}
	c.purchases++
	c.lastOrder, c.lastAmount = d.OrderID, amount
	g.emit(c, t, journey.KindPurchase, src, d)
}

// money converts a EUR amount to minor units of m's currency.
func (g *gen) money(m market, eur float64) int64 {
	v := eur * m.scale
	for i := 0; i < m.exp; i++ {
		v *= 10
	}
	if v < 1 {
		v = 1
	}
	return int64(v)
}

func formatMoney(minor int64, exp int) string {
	if exp == 0 {
		return strconv.FormatInt(minor, 10)
	}
	p := int64(1)
	for i := 0; i < exp; i++ {
		p *= 10
	}
	return fmt.Sprintf("%d.%0*d", minor/p, exp, minor%p)
}

func (g *gen) ret(c *customer, t time.Time, reason string) {
	if c.lastOrder == "" {
		return
	}
	amt := c.lastAmount
	if g.chance(0.4) {
		amt = amt * int64(20+g.rng.IntN(60)) / 100
	}
	if amt < 1 {
		amt = 1
	}
	if reason == "" {
		reason = retReasons[g.rng.IntN(len(retReasons))]
	}
	kind := "refund"
	if g.chance(0.3) {
		kind = "exchange"
	}
	src := "web/returns"
	if c.channel == "store" {
		src = g.tillSource(c)
	}
	g.emit(c, t, journey.KindReturn, src, data{OrderID: c.lastOrder, Amount: formatMoney(amt, c.mkt.exp), Currency: c.mkt.currency, Kind: kind, Reason: reason})
}

// feedback gives a rating between lo and hi on the CSAT scale (1..5),
// as CSAT, NPS or both.
func (g *gen) feedback(c *customer, t time.Time, lo, hi int) {
	csat := lo + g.rng.IntN(hi-lo+1)
	d := data{}
	switch g.rng.IntN(3) {
	case 0:
		d.CSAT = &csat
	case 1:
		nps := min(10, max(0, (csat-1)*5/2+g.rng.IntN(3)))
		d.NPS = &nps
	default:
		nps := min(10, max(0, (csat-1)*5/2+g.rng.IntN(3)))
		d.CSAT, d.NPS = &csat, &nps
	}
	if g.chance(0.4) {
		cs := comments[csat-1]
		d.Comment = cs[g.rng.IntN(len(cs))]
	}
	src := "survey/email"
	if g.chance(0.15) || (csat <= 2 && g.chance(0.3)) {
		d.Public = true
		src = "web/reviews"
	}
	g.emit(c, t, journey.KindFeedback, src, d)
	if csat >= 4 && g.chance(0.3) {
		g.thankYou(c, g.after(t, time.Hour, 24*time.Hour), "feedback")
	}
}

func (g *gen) thankYou(c *customer, t time.Time, reason string) {
	ch := "email"
	if c.channel == "app" {
		ch = "app"
	}
	g.emit(c, t, journey.KindThankYou, "crm/mailer", data{MessageID: g.newID("msg-"), Reason: reason, Channel: ch})
}

// referral makes c refer a new customer, who then arrives within days.
func (g *gen) referral(c *customer, t time.Time) {
	if g.remaining == 0 || t.After(g.end) {
		return
	}
	at := g.after(t, 2*time.Hour, 5*24*time.Hour)
	if at.After(g.end) {
		return
	}
	r := g.newCustomer(at, archReferred)
	r.mkt = c.mkt
	c.referrals++
	g.emit(c, t, journey.KindReferral, "web/referral", data{Referred: r.id})
	heap.Push(&g.customers, r)
	g.thankYou(c, g.after(at, time.Hour, 48*time.Hour), "referral")
}

func (g *gen) profile(c *customer, t time.Time) {
	d := data{Kind: "individual", Country: c.mkt.country}
	if c.business {
		d.Kind = "business"
		d.Traits = map[string]string{"sector": []string{"hospitality", "retail", "office"}[g.rng.IntN(3)]}
	} else {
		d.Traits = map[string]string{"age_band": traitsAge[g.rng.IntN(len(traitsAge))]}
		if g.chance(0.4) {
			d.Traits["loyalty_card"] = "yes"
		}
	}
	g.emit(c, t, journey.KindProfile, "crm/profile", d)
}

// data is the union of the kinds' data fields, in the order they are written.
type data struct {
	Channel     string            `json:"channel,omitempty"`
	StoreID     string            `json:"store_id,omitempty"`
	OrderID     string            `json:"order_id,omitempty"`
	Amount      string            `json:"amount,omitempty"`
	Currency    string            `json:"currency,omitempty"`
	Items       int               `json:"items,omitzero"`
	Discount    string            `json:"discount,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	CaseID      string            `json:"case_id,omitempty"`
	Severity    string            `json:"severity,omitempty"`
	Category    string            `json:"category,omitempty"`
	EscalatedTo string            `json:"escalated_to,omitempty"`
	Outcome     string            `json:"outcome,omitempty"`
	CSAT        *int              `json:"csat,omitzero"`
	NPS         *int              `json:"nps,omitzero"`
	Comment     string            `json:"comment,omitempty"`
	Public      bool              `json:"public,omitzero"`
	MessageID   string            `json:"message_id,omitempty"`
	Referred    string            `json:"referred,omitempty"`
	Country     string            `json:"country,omitempty"`
	Traits      map[string]string `json:"traits,omitempty"`
}

type envelope struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject,omitempty"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            any    `json:"data"`
}

const timeLayout = "2006-01-02T15:04:05Z07:00"

// emit queues one event at event time t (never after the period's end),
// arriving at t or, from an offline till, hours or days later.
func (g *gen) emit(c *customer, t time.Time, kind journey.Kind, source string, d data) {
	if t.After(g.end) {
		return
	}
	env := envelope{SpecVersion: "1.0", ID: g.uuid7(t), Source: source, Type: string(kind),
		Subject: c.id, Time: t.UTC().Format(timeLayout), DataContentType: "application/json", Data: d}
	arrival := t
	if len(source) > 4 && source[:4] == "pos/" {
		p := 0.02
		if offlineStore(c.store) {
			p = 0.5
		}
		if g.chance(p) {
			arrival = g.after(t, time.Hour, 72*time.Hour)
			g.stats.Late++
		}
	}
	invalid := g.cfg.InvalidRate > 0 && g.chance(g.cfg.InvalidRate)
	var line []byte
	if invalid {
		line = g.corrupt(env, d)
		g.stats.Invalid++
	} else {
		var err error
		line, err = json.Marshal(env, json.Deterministic(true))
		if err != nil {
			panic(fmt.Sprintf("simulate: marshal: %v", err)) // only plain strings, ints and maps
		}
		g.stats.ByKind[kind]++
	}
	g.stats.Events++
	g.seq++
	heap.Push(&g.out, pending{arrival: arrival, seq: g.seq, line: line})
}

// corrupt returns an invalid variant of the event, as broken tills send.
func (g *gen) corrupt(env envelope, d data) []byte {
	switch g.rng.IntN(7) {
	case 0:
		env.Type = "purchace"
	case 1:
		env.Subject = ""
	case 2:
		env.Time = "2099-01-01T00:00:00Z"
	case 3:
		switch {
		case d.Amount != "" && strings.Contains(d.Amount, "."):
			d.Amount += "5" // one decimal more than the currency has
		case d.Amount != "":
			d.Amount += ".5"
		case env.Type == string(journey.KindFeedback):
			n := 11
			d.NPS = &n
		default:
			env.Type = "purchace"
		}
		env.Data = d
	case 4:
		env.Subject = "walk in customer"
	case 5:
		env.SpecVersion = "0.3"
	default:
		b, _ := json.Marshal(env, json.Deterministic(true))
		return b[:len(b)/2] // truncated line
	}
	b, err := json.Marshal(env, json.Deterministic(true))
	if err != nil {
		panic(fmt.Sprintf("simulate: marshal: %v", err))
	}
	return b
}
