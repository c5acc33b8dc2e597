// Package clusters finds natural groups of customers: k-means (Lloyd's
// algorithm from a k-means++ start, several starts, the lowest
// within-cluster sum of squares kept) over standardised features, with k
// chosen by the mean silhouette when not given. Everything is seeded and
// deterministic: the same points and seed give the same clusters, named
// c1… in a canonical order (by size, largest first).
//
// The customer features (Features) are recency (days since the last
// purchase), frequency (purchases), monetary value (net revenue in the
// customer's main currency, major units, as the RFM score takes it) and
// satisfaction (0–100). Each is standardised to mean 0 and standard
// deviation 1 over the population fitted; a Model keeps the means and
// deviations so that it can place any customer later (Assign).
package clusters

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// DefaultSeed is the seed of Fit when none is given.
const DefaultSeed = 1

// MinK and MaxK bound the k tried when k is not given.
const (
	MinK = 2
	MaxK = 8
)

// starts is how many k-means++ starts Fit runs per k (the best is kept).
const starts = 5

// maxIter bounds Lloyd's iterations per start.
const maxIter = 300

// SilhouetteSample is the most points the silhouette is computed over (a
// seeded sample when there are more): the silhouette is O(n²).
const SilhouetteSample = 3000

// ErrTooFew is returned when there are not more points than clusters.
var ErrTooFew = errors.New("clusters: too few customers to cluster")

// Model is a fitted clustering.
type Model struct {
	Features []string  `json:"features"`
	Mean     []float64 `json:"mean"` // of each feature over the points fitted
	Std      []float64 `json:"std"`  // of each feature (1 where it was constant)
	K        int       `json:"k"`
	Seed     uint64    `json:"seed"`
	// Silhouette is the mean silhouette of the clustering (−1..1, higher
	// is better separated); Silhouettes the score of each k tried when k
	// was chosen (k → score).
	Silhouette  float64         `json:"silhouette"`
	Silhouettes map[int]float64 `json:"silhouettes,omitempty"`
	// Inertia is the within-cluster sum of squared standardised distances.
	Inertia  float64   `json:"inertia"`
	Clusters []Cluster `json:"clusters"`
	// Points is how many points were fitted; AsOf the instant of their
	// features (set by the caller).
	Points int       `json:"points"`
	AsOf   time.Time `json:"as_of,omitzero"`
}

// Cluster is one cluster: its name, size and centre, in original units
// (Centre[i] is feature Features[i]) and standardised.
type Cluster struct {
	Name     string    `json:"name"`
	Size     int       `json:"size"`
	Centre   []float64 `json:"centre"`
	Centroid []float64 `json:"centre_standardised"`
}

// Fit clusters points (n rows of len(features) values) into k clusters
// (k ≤ 0: the k of MinK..MaxK with the highest mean silhouette, the
// smaller k on a tie) from seed (0: DefaultSeed).
func Fit(ctx context.Context, features []string, points [][]float64, k int, seed uint64) (*Model, error) {
	if seed == 0 {
		seed = DefaultSeed
	}
	d := len(features)
	n := len(points)
	for i, p := range points {
		if len(p) != d {
			return nil, fmt.Errorf("clusters: point %d has %d values, want %d", i, len(p), d)
		}
		for j, x := range p {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("clusters: point %d feature %s is %v", i, features[j], x)
			}
		}
	}
	if k > 0 && n <= k || k <= 0 && n <= MinK {
		return nil, fmt.Errorf("%w: %d, need more than %d", ErrTooFew, n, max(k, MinK))
	}
	mean, std := moments(points, d)
	z := make([]float64, n*d)
	for i, p := range points {
		for j, x := range p {
			z[i*d+j] = (x - mean[j]) / std[j]
		}
	}
	m := &Model{Features: slices.Clone(features), Mean: mean, Std: std, Seed: seed, Points: n}
	var centres []float64
	var assign []int
	if k > 0 {
		var err error
		centres, assign, m.Inertia, err = kmeans(ctx, z, d, k, seed)
		if err != nil {
			return nil, err
		}
		m.Silhouette = silhouette(z, d, assign, k, seed)
	} else {
		m.Silhouettes = map[int]float64{}
		best := math.Inf(-1)
		for kk := MinK; kk <= min(MaxK, n-1); kk++ {
			c, a, in, err := kmeans(ctx, z, d, kk, seed)
			if err != nil {
				return nil, err
			}
			s := silhouette(z, d, a, kk, seed)
			m.Silhouettes[kk] = s
			if s > best {
				best, k, centres, assign, m.Inertia = s, kk, c, a, in
			}
		}
		m.Silhouette = best
	}
	m.K = k
	sizes := make([]int, k)
	for _, c := range assign {
		sizes[c]++
	}
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if sizes[a] != sizes[b] {
			return sizes[b] - sizes[a]
		}
		return slices.Compare(centres[a*d:a*d+d], centres[b*d:b*d+d])
	})
	for i, c := range order {
		cz := slices.Clone(centres[c*d : c*d+d])
		orig := make([]float64, d)
		for j := range d {
			orig[j] = cz[j]*std[j] + mean[j]
		}
		m.Clusters = append(m.Clusters, Cluster{Name: fmt.Sprintf("c%d", i+1), Size: sizes[c], Centre: orig, Centroid: cz})
	}
	return m, nil
}

// Assign returns the index into m.Clusters of the cluster nearest to x
// (original units), or -1 when x has the wrong length or a non-finite value.
func (m *Model) Assign(x []float64) int {
	if len(x) != len(m.Features) {
		return -1
	}
	best, bestD := -1, math.Inf(1)
	for i, c := range m.Clusters {
		var s float64
		for j, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return -1
			}
			dz := (v-m.Mean[j])/m.Std[j] - c.Centroid[j]
			s += dz * dz
		}
		if s < bestD {
			best, bestD = i, s
		}
	}
	return best
}

// Name is the name of the cluster nearest to x, "" when Assign gives -1.
func (m *Model) Name(x []float64) string {
	if i := m.Assign(x); i >= 0 {
		return m.Clusters[i].Name
	}
	return ""
}

func moments(points [][]float64, d int) (mean, std []float64) {
	mean, std = make([]float64, d), make([]float64, d)
	n := float64(len(points))
	for _, p := range points {
		for j, x := range p {
			mean[j] += x
		}
	}
	for j := range mean {
		mean[j] /= n
	}
	for _, p := range points {
		for j, x := range p {
			dx := x - mean[j]
			std[j] += dx * dx
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / n)
		if std[j] == 0 || math.IsNaN(std[j]) {
			std[j] = 1
		}
	}
	return mean, std
}

func dist2(a, b []float64) float64 {
	var s float64
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// kmeans runs `starts` seeded k-means++ starts of Lloyd's algorithm on the
// n×d points z and returns the best: centres (k×d), assignment, inertia.
func kmeans(ctx context.Context, z []float64, d, k int, seed uint64) (centres []float64, assign []int, inertia float64, err error) {
	n := len(z) / d
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	inertia = math.Inf(1)
	for range starts {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, err
		}
		c := plusPlus(z, d, k, rng)
		a := make([]int, n)
		in, err := lloyd(ctx, z, d, k, c, a)
		if err != nil {
			return nil, nil, 0, err
		}
		if in < inertia {
			centres, assign, inertia = c, a, in
		}
	}
	return centres, assign, inertia, nil
}

// plusPlus picks k initial centres by k-means++ (Arthur & Vassilvitskii
// 2007): the first uniformly, each next with probability proportional to
// the squared distance to the nearest centre already chosen.
func plusPlus(z []float64, d, k int, rng *rand.Rand) []float64 {
	n := len(z) / d
	c := make([]float64, 0, k*d)
	first := rng.IntN(n)
	c = append(c, z[first*d:first*d+d]...)
	near := make([]float64, n)
	for i := range n {
		near[i] = dist2(z[i*d:i*d+d], c[:d])
	}
	for len(c) < k*d {
		var total float64
		for _, v := range near {
			total += v
		}
		pick := 0
		if total > 0 {
			r := rng.Float64() * total
			for i, v := range near {
				r -= v
				if r < 0 {
					pick = i
					break
				}
				pick = i
			}
		} else {
			pick = rng.IntN(n)
		}
		nc := z[pick*d : pick*d+d]
		c = append(c, nc...)
		for i := range n {
			near[i] = min(near[i], dist2(z[i*d:i*d+d], nc))
		}
	}
	return c
}

// lloyd iterates assignment and update from the centres c (updated in
// place) until no point moves, filling assign; an emptied cluster takes
// the point farthest from its centre. It returns the inertia.
func lloyd(ctx context.Context, z []float64, d, k int, c []float64, assign []int) (float64, error) {
	n := len(z) / d
	for i := range assign {
		assign[i] = -1
	}
	sums := make([]float64, k*d)
	counts := make([]int, k)
	var inertia float64
	for iter := 0; iter < maxIter; iter++ {
		if iter%16 == 15 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		moved := 0
		inertia = 0
		for i := range n {
			p := z[i*d : i*d+d]
			best, bestD := 0, math.Inf(1)
			for j := range k {
				if dd := dist2(p, c[j*d:j*d+d]); dd < bestD {
					best, bestD = j, dd
				}
			}
			if assign[i] != best {
				assign[i] = best
				moved++
			}
			inertia += bestD
		}
		if moved == 0 {
			break
		}
		clear(sums)
		clear(counts)
		for i := range n {
			a := assign[i]
			counts[a]++
			for j := range d {
				sums[a*d+j] += z[i*d+j]
			}
		}
		for j := range k {
			if counts[j] == 0 {
				// Re-seed an empty cluster with the point farthest from its centre.
				far, farD := 0, -1.0
				for i := range n {
					if dd := dist2(z[i*d:i*d+d], c[assign[i]*d:assign[i]*d+d]); dd > farD {
						far, farD = i, dd
					}
				}
				copy(c[j*d:j*d+d], z[far*d:far*d+d])
				assign[far] = j
				continue
			}
			for jj := range d {
				c[j*d+jj] = sums[j*d+jj] / float64(counts[j])
			}
		}
	}
	return inertia, nil
}

// silhouette is the mean silhouette (Rousseeuw 1987) of the assignment,
// over a seeded sample of at most SilhouetteSample points (distances
// among the sample only). A point alone in its cluster scores 0.
func silhouette(z []float64, d int, assign []int, k int, seed uint64) float64 {
	n := len(z) / d
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if n > SilhouetteSample {
		rng := rand.New(rand.NewPCG(seed, 0x51))
		rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:SilhouetteSample]
		slices.Sort(idx)
	}
	counts := make([]int, k)
	for _, i := range idx {
		counts[assign[i]]++
	}
	sum := make([]float64, k)
	var total float64
	for _, i := range idx {
		clear(sum)
		p := z[i*d : i*d+d]
		for _, j := range idx {
			if j != i {
				sum[assign[j]] += math.Sqrt(dist2(p, z[j*d:j*d+d]))
			}
		}
		own := assign[i]
		if counts[own] <= 1 {
			continue
		}
		a := sum[own] / float64(counts[own]-1)
		b := math.Inf(1)
		for c := range k {
			if c != own && counts[c] > 0 {
				b = min(b, sum[c]/float64(counts[c]))
			}
		}
		if math.IsInf(b, 1) {
			continue
		}
		if m := max(a, b); m > 0 {
			total += (b - a) / m
		}
	}
	return total / float64(len(idx))
}
