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
