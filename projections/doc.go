// Package projections folds the event log into the views: each customer's
// state and everything derived from it — lifecycle stage, flags, types,
// satisfaction, churn, RFM and rule segments, population NPS — kept in a
// Pebble database and answered now or as of any instant.
//
// # The model (package customer)
//
// What a customer's answer is lives in projections/customer, which knows
// nothing of storage: customer.State.Apply folds one event (in event-time
// order); customer.Config.Derive answers about a state at an instant
// against the customer.Population (median inter-purchase gap, from the
// customer.GapHistogram; the BG/NBD fit; RFM quintiles). Nothing in a
// State depends on "now": stage and churn are derived at read time. This
// package stores, orders and feeds those folds: the views, the live
// projector, the rebuild, as-of answers, segments and the stored churn fit.
//
// # The views (views.go, projector.go, rebuild*.go, asof.go, snapshot.go, segments.go)
//
// Views is a Pebble database under the data directory, disposable: it can
// be deleted at any time and is rebuilt from the log.
//
//	<data>/log            the event log (package eventstore)
//	<data>/marker.views.* names the current views directory, e.g. "views-000002"
//	                      (Pebble's atomicfs marker; older data dirs: a VIEWS file)
//	                      (absent: "views")
//	<data>/views[-NNNNNN] the views database
//	<data>/asof-XXXXXXXX  scratch database of an as-of population fold (transient)
//
// Key layout of a views database:
//
//	key                               value
//	--------------------------------  ---------------------------------------------
//	"c/" customer                     stored state: header(17) | customer.State.MarshalBinary
//	                                  header = version(1)=1 | newest event time
//	                                  (unix s(8) | ns(4)) | gap bucket (int32, hours;
//	                                  -1: fewer than two purchase days)
//	"r/" customer 0x00 seq(8)         referral mark: the referral event seq of the
//	                                  referrer naming customer; value = time (12) | referrer
//	"s/" customer 0x00 time(12) seq(8) fold snapshot (snapshot.go): the customer's state
//	                                  folded up to the event at time (unix s(8) with the
//	                                  sign bit flipped | ns(4)), seq = highest seq folded;
//	                                  value = customer.State.MarshalBinary without referral mark
//	"m/checkpoint"                    seq(8) | log hash at seq(32): the last event folded
//	"m/population"                    JSON customer.Population (median gap, churn fit)
//	"m/gaps"                          histogram of the customers' mean gaps (uvarint
//	                                  bucket, count pairs), the source of the median
//	"m/maxtime"                       newest event time folded (unix s(8) | ns(4))
//	"t/" len key len v customer       trait index (traits.go): uvarint lengths, v the
//	                                  trait's value case-folded; empty value
//	"m/format"                        "1"
//	"m/traitindex"                    present when every state has its trait keys
//
// (integers big-endian). Customer ids contain no 0x00 byte.
//
// # Live projection
//
// CatchUp applies the log from the checkpoint up to the log's durable
// position (never past it), in batches: the batch's state updates, referral
// marks, gap histogram, population and the new checkpoint are one Pebble
// batch, so a crash loses whole batches, which CatchUp applies again. The
// states of the last batches stay decoded in memory (at most 32768,
// dropped if a batch fails). Follow
// loops CatchUp and eventstore.Store.WaitDurable. An event older (in event
// time) than the newest event folded into its customer is late: the
// customer is folded again from their history in the log (sorted by time,
// then sequence), so the views never depend on arrival order. Options.OnChange
// sees, after each batch commits, every event's effect on its customer's
// answer (and on the referred customer's, for a referral).
//
// Open checks that the views belong to the log (the hash at the checkpoint);
// views of another log, or deleted views, start empty at checkpoint 0.
//
// # Referrals
//
// A referral event by A naming B is in A's stream, but also marks B as
// referred (customer.State.MarkReferred, order-independent: the earliest referral by
// (time, seq) wins). The mark is kept under "r/" B so that every fold of B —
// live, re-fold after a late event, rebuild, as-of — applies it; as of T,
// only marks with time ≤ T count. A referred customer with no event of their
// own exists in the views as a prospect. Self-referrals are ignored.
//
// # Rebuild
//
// Rebuild folds the whole log into a new database views-<n+1>, in parallel:
// one goroutine scans the log and deals records to Options.Workers workers by
// a hash of the customer id, so each customer's events reach one worker in
// log order (the scanner also decodes referral events and deals the mark to
// the referred customer's worker). A worker decodes, holds events in a
// reorder window (Options.ReorderWindow of event time, at most 16 MiB of
// events, kept in the scanner's chunks, at most 96 of them) and applies them in (time, seq) order; an event later than that is
// late and its customer is folded again after the pass, from a second scan
// of the log (or, when few, from their histories). A worker holds at most
// Options.MaxStates customers at once (by default what 60% of the build's
// memory holds, see Options.MemoryLimit); beyond that, the events of the
// customers it does not hold go, in the order it would apply them, to its
// defer files (eight, by customer hash), and later rounds replay those
// files instead of the log, several a round while their customers fit.
// Each round writes its states into an sstable of its own, ingested into
// the new database. So memory is flat whatever the size of the log, and
// a log whose customers fit is read once with no file written. The log is
// opened with a small block cache for a rebuild (RebuildLogCacheSize): it
// is read once, in order. The new
// database is written without a WAL and flushed; it is then caught up to the
// current views' checkpoint, the views marker is moved atomically (Pebble's
// atomicfs.Marker: a new marker file, fsynced with its directory, then the
// old one removed), and the database pointer is swapped
// under a lock: calls in flight finish on the old views, which are then
// closed and removed. The stored churn fit is carried over.
//
// # Time travel
//
// An answer as of T equals the answer of a log holding only the events
// with time ≤ T, log positions (seq, version) aside; TestAsOfPropertyRandomInstants
// checks it at random instants. Customer(id, T) folds the customer's
// events with time ≤ T (and the marks with time ≤ T) from the log —
// starting from the customer's newest fold snapshot at or before T, so it
// reads only the events after it (at most up to the next snapshot): the
// live projection writes one every 128 events of a customer that arrive in
// order, a late event drops those at or after its time, a rebuild
// backfills them, and none holds a referral mark (snapshot.go) — and
// derives at T against the population at T: the median gap and the RFM
// quintiles of every customer's state at T (a population snapshot, see
// asof.go: computed once per T from the states at T, cached with a bound,
// and shared with Customers and Segmentation at T), and the churn fit if
// its calibration ended by T (a later fit did not exist then). Segments,
// NPS and Customers as of T fold the population of events with time ≤ T
// afresh (the rebuild's code path, into a scratch database; at most
// Options.AsOfFolds at once, without touching the GC settings), unless no
// stored event is later than T.
//
// # Concurrency
//
// Views is safe for concurrent use. Lock order: rebuildMu, applyMu, mu,
// viewsDB.use. Readers pin the current database (use, shared) for the
// duration of a call.
package projections
