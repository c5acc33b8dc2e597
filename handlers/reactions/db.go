package reactions

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The reactions' own Pebble database, <data>/reactions. It holds only
// positions and indexes; the actions themselves are in the log.
//
//	key                               value
//	--------------------------------  ---------------------------------------
//	"m/decided"                       seq(8): the log is decided up to here
//	"m/dispatched"                    seq(8): action records published up to here (the default lane)
//	"m/dispatched/" kind              seq(8): the same, for a kind with a lane of its own (per_second)
//	"m/seeded"                        "1": the due index was seeded from the views
//	"m/holiday"                       YYYY-MM-DD: the last holiday thanked
//	"d/" due(8) customer              -    the due index, by next-due instant
//	"n/" customer                     due(8): the customer's entry in d/
//	"w/" asked(8) id                  kind 0x00 customer: pending actions by age
//	"q/" customer 0x00 id             asked(8) kind: pending actions by customer
//	"t/" customer                     instant(8): the cause of the last thank-you asked
//
// Instants are Unix seconds as big-endian uint64 with the sign bit
// flipped, so that keys sort in time order.
var (
	keyDecided    = []byte("m/decided")
	keyDispatched = []byte("m/dispatched")
	keySeeded     = []byte("m/seeded")
	keyHoliday    = []byte("m/holiday")
	prefixDue     = []byte("d/")
	prefixNext    = []byte("n/")
	prefixAge     = []byte("w/")
	prefixPending = []byte("q/")
	prefixThanked = []byte("t/")
)

func putInstant(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
}

func instantAt(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)^(1<<63)), 0).UTC()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func dueKey(due time.Time, c string) []byte {
	return append(putInstant(append([]byte(nil), prefixDue...), due), c...)
}

func getSeq(db *pebble.DB, key []byte) (uint64, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, errors.New("reactions: corrupt position " + string(key))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

func seqValue(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func getString(db *pebble.DB, key []byte) (string, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer closer.Close()
	return string(v), nil
}

// setDue moves c's entry in the due index to due (zero: none).
func setDue(db pebble.Reader, b *pebble.Batch, c string, due time.Time) error {
	nk := cat(prefixNext, []byte(c))
	v, closer, err := db.Get(nk)
	switch {
	case err == nil:
		old := instantAt(v)
		closer.Close()
		if !due.IsZero() && old.Equal(due.Truncate(time.Second)) {
			return nil
		}
		if err := b.Delete(dueKey(old, c), nil); err != nil {
			return err
		}
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	if due.IsZero() {
		return b.Delete(nk, nil)
	}
	if err := b.Set(dueKey(due, c), nil, nil); err != nil {
		return err
	}
	return b.Set(nk, putInstant(nil, due), nil)
}

func pendingKey(c, id string) []byte { return cat(prefixPending, []byte(c), []byte{0}, []byte(id)) }

func ageKey(asked time.Time, id string) []byte {
	return append(putInstant(append([]byte(nil), prefixAge...), asked), id...)
}

func putPending(b *pebble.Batch, c, id, kind string, asked time.Time) error {
	if err := b.Set(pendingKey(c, id), append(putInstant(nil, asked), kind...), nil); err != nil {
		return err
	}
	return b.Set(ageKey(asked, id), cat([]byte(kind), []byte{0}, []byte(c)), nil)
}

// pendingOf returns c's pending action ids with their asked instants.
func pendingOf(db pebble.Reader, c string) (map[string]time.Time, error) {
	lo := cat(prefixPending, []byte(c), []byte{0})
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: cat(prefixPending, []byte(c), []byte{1})})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out map[string]time.Time
	for it.First(); it.Valid(); it.Next() {
		if out == nil {
			out = map[string]time.Time{}
		}
		out[string(it.Key()[len(lo):])] = instantAt(it.Value())
	}
	return out, it.Error()
}

func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	e[len(e)-1]++
	return e
}
