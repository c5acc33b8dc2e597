package web

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/projections"
)

// rateEvery is how often the rate sampler reads the log's head and the
// views' checkpoint; rateKeep how many samples it keeps (5 minutes).
const (
	rateEvery = 5 * time.Second
	rateKeep  = 61
)

type rateSample struct {
	t          time.Time
	head, view uint64
}

// rateSampler samples the log's head sequence and the views' checkpoint
// every rateEvery, for the audit page's events/s. Reading a sample is two
// atomic loads.
type rateSampler struct {
	store *eventstore.Store
	views *projections.Views
	mu    sync.Mutex
	ring  []rateSample
	stop  chan struct{}
	once  sync.Once
}

func startRates(st *eventstore.Store, v *projections.Views) *rateSampler {
	r := &rateSampler{store: st, views: v, stop: make(chan struct{})}
	r.sample()
	go func() {
		t := time.NewTicker(rateEvery)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				r.sample()
			}
		}
	}()
	return r
}

func (r *rateSampler) close() { r.once.Do(func() { close(r.stop) }) }

func (r *rateSampler) now() rateSample {
	s := rateSample{t: time.Now()}
	s.head, _ = r.store.Head()
	if r.views != nil {
		s.view = r.views.Checkpoint()
	}
	return s
}

func (r *rateSampler) sample() {
	s := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring = append(r.ring, s)
	if len(r.ring) > rateKeep {
		r.ring = r.ring[len(r.ring)-rateKeep:]
	}
}

// rateLine is one rate of the audit page.
type rateLine struct {
	Window         string
	Appended, Fold float64 // events/s into the log, and folded into the views
}

// rates are the append and fold rates over the last minute and the last
// five (as far back as the samples go), from the oldest sample in each
// window to now.
func (r *rateSampler) rates() []rateLine {
	cur := r.now()
	r.mu.Lock()
	ring := append([]rateSample(nil), r.ring...)
	r.mu.Unlock()
	var out []rateLine
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"last minute", time.Minute}, {"last 5 minutes", 5 * time.Minute}} {
		var from *rateSample
		for i := range ring {
			if cur.t.Sub(ring[i].t) <= w.d+rateEvery/2 {
				from = &ring[i]
				break
			}
		}
		if from == nil {
			continue
		}
		dt := cur.t.Sub(from.t).Seconds()
		if dt < 1 {
			continue
		}
		out = append(out, rateLine{Window: w.name + " (" + time.Duration(dt*float64(time.Second)).Round(time.Second).String() + ")",
			Appended: float64(cur.head-min(from.head, cur.head)) / dt, Fold: float64(cur.view-min(from.view, cur.view)) / dt})
	}
	return out
}

// MetricValue is the value of a gauge or counter (0 for another kind, or
// when it cannot be read): for Options.Ingest from the ingester's metrics.
func MetricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if m == nil || m.Write(&d) != nil {
		return 0
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}
