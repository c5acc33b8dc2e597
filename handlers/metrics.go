package handlers

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	journey "github.com/journey-cdp/journey"
)

// Metrics are the engine's Prometheus metrics, on their own registry (never
// the global one, so that several engines can live in one test binary).
// A nil *Metrics is valid everywhere and records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	Appended    prometheus.Counter     // events newly appended to the log
	Duplicates  prometheus.Counter     // events already in the log (redelivery, republish)
	Rejected    *prometheus.CounterVec // events refused, by code
	Batch       prometheus.Histogram   // events per ingest batch
	AppendDur   prometheus.Histogram   // one store Append call: Pebble commit + fsync
	BatchDur    prometheus.Histogram   // one ingest batch: first message taken to last ack sent
	NakDelayed  prometheus.Counter     // events of batches retried after a store failure
	Pending     prometheus.Gauge       // stream messages after the log's position (consumer lag), polled
	AckPending  prometheus.Gauge       // messages taken from the stream and not yet in the log, polled
	StreamLost  prometheus.Counter     // stream messages gone before the engine took them (a gap)
	JetStreamOK prometheus.Gauge       // 1 while the ingester's checks find no JetStream problem, else 0
	Problems    *prometheus.CounterVec // JetStream problems found, by kind (counted when one begins)
	Recoveries  *prometheus.CounterVec // what the ingester did to recover, by action
}

// counter, counterVec, gauge and histogram make a metric of name and help.
func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func counterVec(name, help, label string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

// NewMetrics creates the metrics on a new registry, with the Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		Registry:    reg,
		Appended:    counter("journey_events_appended_total", "Events appended to the log (durable, fsynced)."),
		Duplicates:  counter("journey_events_duplicate_total", "Events whose id was already in the log with identical bytes."),
		Rejected:    counterVec("journey_events_rejected_total", "Events refused, by error code.", "code"),
		Batch:       histogram("journey_ingest_batch_events", "Events per ingest batch (one Append, one fsync).", []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}),
		AppendDur:   histogram("journey_append_fsync_seconds", "Duration of one store Append call, which returns after its fsync.", latency),
		BatchDur:    histogram("journey_ingest_batch_seconds", "Duration of one ingest batch from its first message taken to its position committed.", latency),
		NakDelayed:  counter("journey_ingest_nak_total", "Events of ingest batches retried (with a growing delay) after a transient store failure."),
		Pending:     gauge("journey_consumer_pending", "Stream messages after the stream position the log holds (consumer lag)."),
		AckPending:  gauge("journey_consumer_ack_pending", "Messages taken from the stream by the engine and not yet in the log."),
		StreamLost:  counter("journey_ingest_stream_lost_total", "Stream messages gone (expired, purged, deleted, stream recreated) before the engine took them; see /readyz for the range."),
		JetStreamOK: gauge("journey_jetstream_ok", "1 while the ingester finds no JetStream problem (see /readyz for the one it found), else 0."),
		Problems:    counterVec("journey_jetstream_problems_total", "JetStream problems the ingester found, by kind, counted when one begins.", "kind"),
		Recoveries:  counterVec("journey_ingest_recoveries_total", "What the ingester did to recover: consumer_recreated, stream_recreated, consume_restarted, jetstream_restarted.", "action"),
	}
	reg.MustRegister(m.Appended, m.Duplicates, m.Rejected, m.Batch, m.AppendDur, m.BatchDur, m.NakDelayed, m.Pending, m.AckPending, m.StreamLost,
		m.JetStreamOK, m.Problems, m.Recoveries)
	return m
}

// Gauge registers a gauge whose value fn computes at scrape time (quarantine
// size, durable sequence).
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// streamLost counts n messages lost before ingest (0: an unknown number,
// counted as one).
func (m *Metrics) streamLost(n uint64) {
	if m != nil {
		m.StreamLost.Add(float64(max(n, 1)))
	}
}

func (m *Metrics) appended(n int) {
	if m != nil && n > 0 {
		m.Appended.Add(float64(n))
	}
}

func (m *Metrics) duplicates(n int) {
	if m != nil && n > 0 {
		m.Duplicates.Add(float64(n))
	}
}

func (m *Metrics) rejected(code journey.Code) {
	if m != nil {
		m.Rejected.WithLabelValues(string(code)).Inc()
	}
}

func (m *Metrics) observeAppend(seconds float64) {
	if m != nil {
		m.AppendDur.Observe(seconds)
	}
}

func (m *Metrics) observeBatch(n int, seconds float64) {
	if m != nil {
		m.Batch.Observe(float64(n))
		m.BatchDur.Observe(seconds)
	}
}

func (m *Metrics) jetStreamOK(ok bool) {
	if m != nil {
		v := 0.0
		if ok {
			v = 1
		}
		m.JetStreamOK.Set(v)
	}
}

func (m *Metrics) problem(kind string) {
	if m != nil {
		m.Problems.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) recovered(action string) {
	if m != nil {
		m.Recoveries.WithLabelValues(action).Inc()
	}
}

func (m *Metrics) naked(n int) {
	if m != nil {
		m.NakDelayed.Add(float64(n))
	}
}

// NanosHistogram registers, under name, a histogram kept elsewhere in
// nanoseconds (Pebble's WAL fsync latency), converted to seconds at scrape
// time; src failing (a closed store) leaves it out of that scrape.
func (m *Metrics) NanosHistogram(name, help string, src func() (prometheus.Histogram, error)) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(nanosHistogram{desc: prometheus.NewDesc(name, help, nil, nil), src: src})
}

type nanosHistogram struct {
	desc *prometheus.Desc
	src  func() (prometheus.Histogram, error)
}

func (c nanosHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c nanosHistogram) Collect(ch chan<- prometheus.Metric) {
	h, err := c.src()
	if err != nil {
		return
	}
	var d dto.Metric
	if err := h.Write(&d); err != nil || d.Histogram == nil {
		return
	}
	buckets := make(map[float64]uint64, len(d.Histogram.Bucket))
	for _, b := range d.Histogram.Bucket {
		buckets[b.GetUpperBound()/1e9] = b.GetCumulativeCount()
	}
	if m, err := prometheus.NewConstHistogram(c.desc, d.Histogram.GetSampleCount(), d.Histogram.GetSampleSum()/1e9, buckets); err == nil {
		ch <- m
	}
}
