package handlers

import (
	"testing"
	"time"
)

// Every options struct fills its zero fields in one place, withDefaults,
// with the documented constants, and keeps what the caller set.
func TestOptionsWithDefaults(t *testing.T) {
	in := IngestOptions{}.withDefaults()
	if in.SubjectPrefix != DefaultSubjectPrefix || in.RejectSubject != DefaultRejectSubject ||
		in.BatchSize != DefaultBatchSize || in.NakDelay != DefaultNakDelay || in.MaxNakDelay != DefaultMaxNakDelay ||
		in.LagEvery != DefaultLagEvery || in.RepairEvery != DefaultRepairEvery ||
		in.Clock == nil || in.Logger == nil || in.Stream != (StreamOptions{}).withDefaults() {
		t.Errorf("IngestOptions{}.withDefaults() = %+v", in)
	}
	in = IngestOptions{SubjectPrefix: "x.events", BatchSize: 7}.withDefaults()
	if in.SubjectPrefix != "x.events" || in.Stream.SubjectPrefix != "x.events" || in.BatchSize != 7 {
		t.Errorf("set fields lost: %+v", in)
	}

	ap := AppendOptions{}.withDefaults()
	if ap.RejectSubject != DefaultRejectSubject || ap.MaxInFlight != DefaultMaxInFlight || ap.Clock == nil || ap.Logger == nil {
		t.Errorf("AppendOptions{}.withDefaults() = %+v", ap)
	}
	if ap := (AppendOptions{MaxInFlight: 3}).withDefaults(); ap.MaxInFlight != 3 {
		t.Errorf("MaxInFlight 3 became %d", ap.MaxInFlight)
	}

	pu := PublishOptions{}.withDefaults()
	if pu.SubjectPrefix != DefaultSubjectPrefix || pu.MaxPending != DefaultMaxPending || pu.AckTimeout != DefaultAckTimeout ||
		pu.ProgressEvery != DefaultProgressEvery || pu.MaxErrors != DefaultMaxErrors {
		t.Errorf("PublishOptions{}.withDefaults() = %+v", pu)
	}
	if pu := (PublishOptions{AckTimeout: time.Second}).withDefaults(); pu.AckTimeout != time.Second {
		t.Errorf("AckTimeout 1s became %s", pu.AckTimeout)
	}

	if h := (HTTPOptions{}).withDefaults(); h.Logger == nil || h.PopulationAsOf != nil {
		t.Errorf("HTTPOptions{}.withDefaults() = %+v", h)
	}
}
