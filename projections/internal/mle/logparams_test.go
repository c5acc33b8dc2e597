package mle

import (
	"math"
	"testing"
)

func TestLogObjective(t *testing.T) {
	var got []float64
	f := LogObjective(2, 10, 4, func(th []float64) float64 {
		got = append(got[:0], th...)
		if th[0] > 100 {
			return math.NaN()
		}
		return -8 * (th[0] + th[1])
	})
	if v := f([]float64{0, math.Log(3)}); math.Abs(v-8) > 1e-12 || math.Abs(got[0]-1) > 1e-12 || math.Abs(got[1]-3) > 1e-12 {
		t.Fatalf("f(0, log 3) = %v with θ = %v, want 8 with θ = [1 3]", v, got)
	}
	for _, x := range [][]float64{{11, 0}, {0, -11}, {math.NaN(), 0}, {math.Log(200), 0}} {
		if v := f(x); !math.IsInf(v, 1) {
			t.Errorf("f(%v) = %v, want +Inf", x, v)
		}
	}
}

func TestExpLogDegenerate(t *testing.T) {
	th := []float64{0.5, 2, 40}
	x := Log(th)
	back := Exp(x)
	for i := range th {
		if math.Abs(back[i]-th[i]) > 1e-12 {
			t.Fatalf("Exp(Log(%v)) = %v", th, back)
		}
	}
	if Degenerate(x, 25) || !Degenerate([]float64{1, -26}, 25) || Degenerate([]float64{math.NaN()}, 25) {
		t.Fatal("Degenerate: want false for |x| ≤ 25 and NaN, true for -26")
	}
}
