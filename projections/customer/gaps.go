package customer

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"
)

// The population median inter-purchase gap is kept as a histogram of the
// customers' mean gaps (in hours, over their distinct purchase days; only
// customers with at least two purchase days count). The histogram is a
// sum over customers, so it does not depend on the order in which they
// were folded: live projection and rebuild give the same median.

// NoGap is the gap bucket of a customer with fewer than two purchase days.
const NoGap int32 = -1

// farFuture is an as-of instant after every event.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// GapHistogram counts customers per mean-gap bucket (hours).
type GapHistogram map[int32]int64

// GapBucket is the mean inter-purchase gap of s in hours (NoGap when s has
// fewer than two purchase days).
func GapBucket(s *State) int32 { return GapBucketAt(s, farFuture) }

// GapBucketAt is GapBucket over the purchase days on or before asOf.
func GapBucketAt(s *State, asOf time.Time) int32 {
	days := s.PurchaseDays(asOf)
	if len(days) < 2 {
		return NoGap
	}
	first, last, n := days[0], days[0], 1
	for i, d := range days {
		if d < first {
			first = d
		}
		if d > last {
			last = d
		}
		if i > 0 && d != days[i-1] {
			n++
		}
	}
	if n < 2 || last == first {
		return NoGap
	}
	// Mean gap in hours, rounded: 24·(last−first)/(n−1).
	num := int64(last-first) * 24
	den := int64(n - 1)
	return int32((num + den/2) / den)
}

// Move takes a customer out of bucket from and into bucket to.
func (h GapHistogram) Move(from, to int32) {
	if from == to {
		return
	}
	if from != NoGap {
		h[from]--
	}
	if to != NoGap {
		h[to]++
	}
}

// Add adds the counts of o to h.
func (h GapHistogram) Add(o GapHistogram) {
	for k, n := range o {
		h[k] += n
	}
}

// Clean drops empty buckets.
func (h GapHistogram) Clean() {
	maps.DeleteFunc(h, func(_ int32, n int64) bool { return n == 0 })
}

// Median is the median of the histogram (0 when empty): the middle
// customer's bucket, or the mean of the two middle ones.
func (h GapHistogram) Median() time.Duration {
	keys := slices.Sorted(maps.Keys(h))
	var total int64
	for _, k := range keys {
		if h[k] > 0 {
			total += h[k]
		}
	}
	if total == 0 {
		return 0
	}
	lo, hi := (total-1)/2, total/2 // 0-based ranks of the middle
	var seen int64
	var a, b int32 = -1, -1
	for _, k := range keys {
		n := h[k]
		if n <= 0 {
			continue
		}
		if a < 0 && lo < seen+n {
			a = k
		}
		if b < 0 && hi < seen+n {
			b = k
			break
		}
		seen += n
	}
	return time.Duration(int64(a)+int64(b)) * time.Hour / 2
}

// Clone returns a copy of h.
func (h GapHistogram) Clone() GapHistogram { return maps.Clone(h) }

// Encode writes the histogram as (bucket, count) pairs of uvarints, sorted.
func (h GapHistogram) Encode() []byte {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if h[k] <= 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(k))
		b = binary.AppendUvarint(b, uint64(h[k]))
	}
	return b
}

// DecodeGapHistogram reads what Encode wrote.
func DecodeGapHistogram(b []byte) (GapHistogram, error) {
	h := GapHistogram{}
	for len(b) > 0 {
		k, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("customer state: bad gap histogram")
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("customer state: bad gap histogram")
		}
		b = b[n:]
		h[int32(k)] = int64(c)
	}
	return h, nil
}
