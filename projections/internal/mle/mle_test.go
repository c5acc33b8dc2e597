package mle

import (
	"context"
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/optimize"
)

var stages = Stages{
	NelderMead:        optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 100},
	GradientThreshold: 1e-8,
	BFGS:              optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-15, Iterations: 20},
}

func TestNelderMeadBFGSFindsMinimum(t *testing.T) {
	f := func(x []float64) float64 { return (x[0]-1)*(x[0]-1) + 3*(x[1]+2)*(x[1]+2) }
	r, err := NelderMeadBFGS(context.Background(), "test", Problem(context.Background(), f, CentralGradient(f)), []float64{5, 5}, stages)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Best.X[0]-1) > 1e-5 || math.Abs(r.Best.X[1]+2) > 1e-5 {
		t.Fatalf("minimum at %v, want [1 -2]", r.Best.X)
	}
	if !r.NelderMeadConverged || r.Iterations < r.Best.MajorIterations || r.Why == "" {
		t.Fatalf("result %+v", r)
	}
}

func TestNelderMeadBFGSCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := func(x []float64) float64 { return x[0] * x[0] }
	_, err := NelderMeadBFGS(ctx, "test", Problem(ctx, f, CentralGradient(f)), []float64{3}, stages)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNumericHelpers(t *testing.T) {
	if got, want := LogSumExp(1000, 1000), 1000+math.Ln2; math.Abs(got-want) > 1e-12 {
		t.Errorf("LogSumExp(1000, 1000) = %v, want %v", got, want)
	}
	if got := LogSumExp(math.Inf(-1), math.Inf(-1)); !math.IsInf(got, -1) {
		t.Errorf("LogSumExp(-Inf, -Inf) = %v", got)
	}
	if got, want := Lgamma(5), math.Log(24); math.Abs(got-want) > 1e-12 {
		t.Errorf("Lgamma(5) = %v, want %v", got, want)
	}
	if !Positive(1, 2) || Positive(1, 0) || Positive(math.Inf(1)) || Positive(math.NaN()) {
		t.Error("Positive")
	}
	if MaxAbs([]float64{1, -3, 2}) != 3 || MaxAbs(nil) != 0 {
		t.Error("MaxAbs")
	}
}

func TestAggregate(t *testing.T) {
	type c struct{ x, tx, T float64 }
	fields := func(v c) (float64, float64, float64) { return v.x, v.tx, v.T }
	none := errors.New("none")
	if _, err := Aggregate("m", []c{}, fields, false, none); err != none {
		t.Fatalf("no customers: %v", err)
	}
	gs, err := Aggregate("m", []c{{2, 3, 5}, {0, 0, 4}, {2, 3, 5}, {1, 5 * (1 + 1e-12), 5}}, fields, true, none)
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{{0, 0, 4, 1}, {1, 5, 5, 1}, {2, 3, 5, 2}}
	if len(gs) != len(want) {
		t.Fatalf("groups %v, want %v", gs, want)
	}
	for i := range want {
		if gs[i] != want[i] {
			t.Fatalf("groups %v, want %v", gs, want)
		}
	}
	for _, tc := range []struct {
		in   c
		want string
	}{
		{c{math.NaN(), 0, 1}, "m: customer 0: non-finite field (x=NaN t_x=0 T=1)"},
		{c{1.5, 0, 1}, "m: customer 0: x=1.5 must be a non-negative whole number"},
		{c{1, -1, 1}, "m: customer 0: negative time (t_x=-1 T=1)"},
		{c{1, 2, 1}, "m: customer 0: t_x=2 after the calibration end T=1"},
	} {
		if _, err := Aggregate("m", []c{tc.in}, fields, false, none); err == nil || err.Error() != tc.want {
			t.Errorf("%v: err %v, want %q", tc.in, err, tc.want)
		}
	}
}
