package bgnbd

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// seriesMaxZ is the largest z for which hyp2f1 sums the Gauss series itself;
// at z = 0.95 the terms shrink at least like 0.95^n, so ≈ 750 terms reach
// double precision. Above it gonum's Cephes port (mathext.Hypergeo), which
// uses the 1−z linear transformations, takes over.
const seriesMaxZ = 0.95

// hyp2f1 returns the Gauss hypergeometric function 2F1(a, b; c; z) for
// 0 ≤ z < 1 and c > 0 (the only domain the BG/NBD formulas need).
func hyp2f1(a, b, c, z float64) float64 {
	if z == 0 {
		return 1
	}
	if z > seriesMaxZ || z < 0 || c <= 0 {
		return mathext.Hypergeo(a, b, c, z)
	}
	return hyp2f1Series(a, b, c, z)
}

// hyp2f1Series sums Σ (a)_n (b)_n / ((c)_n n!) z^n directly. It stops when a
// estimated remaining tail no longer changes the sum in double precision;
// after 100,000 terms it returns NaN rather than a wrong value.
func hyp2f1Series(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for n := 0.0; n < 100000; n++ {
		ratio := (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		term *= ratio
		sum += term
		if term == 0 {
			return sum
		}
		// Once the ratio q is below 1 the ratios only drift towards z, so
		// the remaining tail is about |term|·q/(1−q) with q = max(|ratio|, z).
		q := math.Max(math.Abs(ratio), z)
		if q < 1 && math.Abs(term)*q <= 1e-17*(1-q)*math.Abs(sum) {
			return sum
		}
	}
	return math.NaN()
}
