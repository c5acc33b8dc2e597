package customer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The binary encoding of a State (views database value). Version 2:
//
//	byte     version (2)
//	string   Customer                       string = uvarint length, bytes
//	uvarint  LastSeq                        time   = uvarint 0 (zero time) or
//	time     LastTime                                zigzag(unix s)+1, uvarint ns
//	uvarint  Events; time FirstSeen, LastSeen
//	uvarint  Visits; time FirstVisit, LastVisit
//	uvarint  Purchases, DiscountedPurchases, Items; time FirstPurchase, LastPurchase
//	money    Revenue, Discounts             money  = uvarint n, n × (string, varint), by currency
//	days     ShoppingDays                   days   = uvarint n, varint first, uvarint deltas
//	byte     1 when FirstDayRevenue is unknown (from a version-1 state), else 0; money FirstDayRevenue
//	time     ReactivatedAt; uvarint Reactivations
//	uvarint  Returns, Exchanges; money Refunds
//	uvarint  Complaints, Escalations, ComplaintsResolved
//	uvarint  n, n × (string CaseID, string Severity, string EscalatedTo, time Opened)
//	uvarint  Feedbacks, CSATCount, NPSCount; varint LastCSAT, LastNPS; time LastFeedback
//	uvarint  Promoters, Passives, Detractors, PublicReviews, PublicPraise
//	uvarint  ThankYous; time LastThankYou
//	uvarint  ReferralsMade; time LastReferral; string ReferredBy; time ReferredAt; uvarint ReferredSeq
//	string   ProfileKind, Country; uvarint n, n × (string key, string value), by key
//	uvarint  n, n × string Stores; string LastStore
//	uvarint  n, n × (varint Δ At, byte Kind, byte Value, uvarint Store)
//	         then, only when there are actions, the actions (actions.go)
//
// Version 1 is version 2 without the FirstDayRevenue byte and money; it
// still decodes, with FirstDayRevenue unknown when there are purchase days
// (State.RepeatRevenue), and is re-encoded as version 2.
const (
	stateCodecVersion   = 2
	stateCodecVersionV1 = 1
)

// errCorrupt is returned by UnmarshalBinary for bytes it cannot decode.
var errCorrupt = errors.New("customer state: corrupt encoding")

// MarshalBinary encodes the state for the views database: a compact,
// versioned, hand-rolled varint encoding (see AppendBinary).
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, s.EncodedSizeHint()))
}

// EncodedSizeHint is a capacity for the buffer AppendBinary fills: about
// the encoded size of s, usually a little more.
func (s *State) EncodedSizeHint() int {
	return 160 + len(s.Customer) + 8*(len(s.Revenue)+len(s.FirstDayRevenue)) + 3*len(s.ShoppingDays) + 40*len(s.OpenComplaints) +
		32*len(s.Traits) + 16*len(s.Stores) + 8*len(s.Signals)
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateCodecVersion)
	b = putString(b, s.Customer)
	b = binary.AppendUvarint(b, s.LastSeq)
	b = putTime(b, s.LastTime)
	b = putInt(b, s.Events)
	b = putTime(b, s.FirstSeen)
	b = putTime(b, s.LastSeen)
	b = putInt(b, s.Visits)
	b = putTime(b, s.FirstVisit)
	b = putTime(b, s.LastVisit)
	b = putInt(b, s.Purchases)
	b = putInt(b, s.DiscountedPurchases)
	b = putInt(b, s.Items)
	b = putTime(b, s.FirstPurchase)
	b = putTime(b, s.LastPurchase)
	b = putMoney(b, s.Revenue)
	b = putMoney(b, s.Discounts)
	b = putDays(b, s.ShoppingDays)
	if s.firstDayUnknown {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = putMoney(b, s.FirstDayRevenue)
	b = putTime(b, s.ReactivatedAt)
	b = putInt(b, s.Reactivations)
	b = putInt(b, s.Returns)
	b = putInt(b, s.Exchanges)
	b = putMoney(b, s.Refunds)
	b = putInt(b, s.Complaints)
	b = putInt(b, s.Escalations)
	b = putInt(b, s.ComplaintsResolved)
	b = putList(b, s.OpenComplaints, putComplaint)
	b = putInt(b, s.Feedbacks)
	b = putInt(b, s.CSATCount)
	b = putInt(b, s.NPSCount)
	b = binary.AppendVarint(b, int64(s.LastCSAT))
	b = binary.AppendVarint(b, int64(s.LastNPS))
	b = putTime(b, s.LastFeedback)
	b = putInt(b, s.Promoters)
	b = putInt(b, s.Passives)
	b = putInt(b, s.Detractors)
	b = putInt(b, s.PublicReviews)
	b = putInt(b, s.PublicPraise)
	b = putInt(b, s.ThankYous)
	b = putTime(b, s.LastThankYou)
	b = putInt(b, s.ReferralsMade)
	b = putTime(b, s.LastReferral)
	b = putString(b, s.ReferredBy)
	b = putTime(b, s.ReferredAt)
	b = binary.AppendUvarint(b, s.ReferredSeq)
	b = putString(b, s.ProfileKind)
	b = putString(b, s.Country)
	b = binary.AppendUvarint(b, uint64(len(s.Traits)))
	var kb [8]string
	for _, k := range sortedKeys(s.Traits, kb[:0]) {
		b = putString(b, k)
		b = putString(b, s.Traits[k])
	}
	b = putList(b, s.Stores, putString)
	b = putString(b, s.LastStore)
	b = putSignals(b, s.Signals)
	return putActions(b, s.Actions), nil
}

// putList appends len(xs), then each element of xs with put; list reads it
// back.
func putList[T any](b []byte, xs []T, put func([]byte, T) []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(xs)))
	for _, x := range xs {
		b = put(b, x)
	}
	return b
}

// putDays appends purchase days: the first as a varint, then the deltas.
func putDays(b []byte, days []int32) []byte {
	prev := int32(0)
	first := true
	return putList(b, days, func(b []byte, d int32) []byte {
		if first {
			b, first = binary.AppendVarint(b, int64(d)), false
		} else {
			b = binary.AppendUvarint(b, uint64(d-prev))
		}
		prev = d
		return b
	})
}

func putComplaint(b []byte, c Complaint) []byte {
	b = putString(b, c.CaseID)
	b = putString(b, c.Severity)
	b = putString(b, c.EscalatedTo)
	return putTime(b, c.Opened)
}

// putSignals appends signals, each At as the delta from the one before.
func putSignals(b []byte, sigs []Signal) []byte {
	var at int64
	return putList(b, sigs, func(b []byte, sg Signal) []byte {
		b = binary.AppendVarint(b, sg.At-at)
		at = sg.At
		b = append(b, byte(sg.Kind), byte(sg.Value))
		return binary.AppendUvarint(b, uint64(sg.Store))
	})
}

// sortedKeys appends m's keys to buf, sorted.
func sortedKeys[V any](m map[string]V, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func putInt(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) }

func putString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	sec := t.Unix()
	b = binary.AppendUvarint(b, uint64(sec<<1^(sec>>63))+1)
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func putMoney(b []byte, m Money) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	var kb [8]string
	for _, c := range sortedKeys(m, kb[:0]) {
		b = putString(b, c)
		b = binary.AppendVarint(b, m[c])
	}
	return b
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	b   []byte
	str string // the same bytes as one string: decoded strings are substrings of it
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 { return took(d, binary.Uvarint) }
func (d *decoder) varint() int64   { return took(d, binary.Varint) }

// took reads one varint from d with read, failing d on a bad one.
func took[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32*1024 {
		d.fail()
		return 0
	}
	return int(v)
}

// count reads a length that needs at least min bytes per element.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	off := len(d.str) - len(d.b)
	d.b = d.b[n:]
	return d.str[off : off+int(n)]
}

func (d *decoder) time() time.Time {
	v := d.uvarint()
	if v == 0 {
		return time.Time{}
	}
	v--
	sec := int64(v>>1) ^ -int64(v&1)
	ns := d.uvarint()
	if ns >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *decoder) money() Money {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(Money, n)
	for range n {
		c := d.string()
		m[c] = d.varint()
	}
	return m
}

// UnmarshalBinary decodes what MarshalBinary wrote, replacing s.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return errCorrupt
	}
	if b[0] != stateCodecVersion && b[0] != stateCodecVersionV1 {
		return fmt.Errorf("customer state: encoding version %d, want %d (or %d)", b[0], stateCodecVersion, stateCodecVersionV1)
	}
	v1 := b[0] == stateCodecVersionV1
	d := &decoder{b: b[1:], str: string(b[1:])}
	*s = State{}
	s.Customer = d.string()
	s.LastSeq = d.uvarint()
	s.LastTime = d.time()
	s.Events = d.int()
	s.FirstSeen = d.time()
	s.LastSeen = d.time()
	s.Visits = d.int()
	s.FirstVisit = d.time()
	s.LastVisit = d.time()
	s.Purchases = d.int()
	s.DiscountedPurchases = d.int()
	s.Items = d.int()
	s.FirstPurchase = d.time()
	s.LastPurchase = d.time()
	s.Revenue = d.money()
	s.Discounts = d.money()
	s.ShoppingDays = d.days()
	if v1 {
		s.firstDayUnknown = len(s.ShoppingDays) > 0
	} else {
		switch d.byte() {
		case 0:
		case 1:
			s.firstDayUnknown = true
		default:
			d.fail()
		}
		s.FirstDayRevenue = d.money()
	}
	s.ReactivatedAt = d.time()
	s.Reactivations = d.int()
	s.Returns = d.int()
	s.Exchanges = d.int()
	s.Refunds = d.money()
	s.Complaints = d.int()
	s.Escalations = d.int()
	s.ComplaintsResolved = d.int()
	s.OpenComplaints = list(d, 4, (*decoder).complaint)
	s.Feedbacks = d.int()
	s.CSATCount = d.int()
	s.NPSCount = d.int()
	s.LastCSAT = int(d.varint())
	s.LastNPS = int(d.varint())
	s.LastFeedback = d.time()
	s.Promoters = d.int()
	s.Passives = d.int()
	s.Detractors = d.int()
	s.PublicReviews = d.int()
	s.PublicPraise = d.int()
	s.ThankYous = d.int()
	s.LastThankYou = d.time()
	s.ReferralsMade = d.int()
	s.LastReferral = d.time()
	s.ReferredBy = d.string()
	s.ReferredAt = d.time()
	s.ReferredSeq = d.uvarint()
	s.ProfileKind = d.string()
	s.Country = d.string()
	if n := d.count(2); n > 0 {
		s.Traits = make(map[string]string, n)
		for range n {
			k := d.string()
			s.Traits[k] = d.string()
		}
	}
	s.Stores = list(d, 1, (*decoder).string)
	s.LastStore = d.string()
	s.Signals = d.signals(len(s.Stores))
	s.Actions = d.actions()
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("customer state: %d trailing bytes after the encoding", len(d.b))
	}
	return nil
}

// list reads what putList wrote: a count of elements that take at least
// min bytes each, then each element with get; nil for none. After a
// failure the elements read are zero.
func list[T any](d *decoder, min int, get func(*decoder) T) []T {
	n := d.count(min)
	if n == 0 {
		return nil
	}
	xs := make([]T, n)
	for i := range xs {
		xs[i] = get(d)
	}
	return xs
}

func (d *decoder) days() []int32 {
	var prev int64
	first := true
	return list(d, 1, func(d *decoder) int32 {
		if first {
			prev, first = d.varint(), false
		} else {
			prev += int64(d.uvarint())
		}
		return int32(prev)
	})
}

func (d *decoder) complaint() Complaint {
	return Complaint{CaseID: d.string(), Severity: d.string(), EscalatedTo: d.string(), Opened: d.time()}
}

// signals reads what putSignals wrote; a signal of an unknown kind or of a
// store beyond the stores stores fails d.
func (d *decoder) signals(stores int) []Signal {
	var at int64
	return list(d, 4, func(d *decoder) Signal {
		at += d.varint()
		k, v, st := d.byte(), d.byte(), d.uvarint()
		if k == 0 || SignalKind(k) >= signalKinds || st > uint64(stores) {
			d.fail()
			return Signal{}
		}
		return Signal{At: at, Kind: SignalKind(k), Value: int8(v), Store: uint16(st)}
	})
}
