package clusters

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
)

var names4 = []string{"a", "b", "c", "d"}

// planted returns k Gaussian blobs of size each in 4 dimensions, far apart
// and of different scales per feature (as recency, frequency, money and
// satisfaction are), and each point's blob.
func planted(k, size int, seed uint64) ([][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	scale := []float64{100, 3, 500, 20}
	var pts [][]float64
	var labels []int
	for c := range k {
		centre := make([]float64, 4)
		for j := range centre {
			// Blob centres on distinct corners of a grid: well separated.
			centre[j] = scale[j] * float64((c>>uint(j%2))&1*4+c*(j+1)%3*4)
		}
		for range size {
			p := make([]float64, 4)
			for j := range p {
				p[j] = centre[j] + rng.NormFloat64()*scale[j]*0.3
			}
			pts = append(pts, p)
			labels = append(labels, c)
		}
	}
	return pts, labels
}

// TestFitDeterministic: the same points and seed give the same model.
func TestFitDeterministic(t *testing.T) {
	pts, _ := planted(3, 200, 1)
	a, err := Fit(context.Background(), names4, pts, 0, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(context.Background(), names4, pts, 0, 42)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two fits with seed 42 differ:\n%+v\n%+v", a, b)
	}
	for _, p := range pts[:50] {
		if a.Assign(p) != b.Assign(p) {
			t.Fatal("assignments differ")
		}
	}
}

// TestRecoversPlanted: with k given and with k chosen by silhouette, every
// planted blob is exactly one cluster, of its size, centred near it.
func TestRecoversPlanted(t *testing.T) {
	for _, k := range []int{2, 3, 4, 5} {
		pts, labels := planted(k, 150, uint64(k))
		for _, given := range []int{k, 0} {
			m, err := Fit(context.Background(), names4, pts, given, 0)
			if err != nil {
				t.Fatal(err)
			}
			if m.K != k {
				t.Fatalf("planted %d, k given %d: fitted k=%d (silhouettes %v)", k, given, m.K, m.Silhouettes)
			}
			if given == 0 && len(m.Silhouettes) != MaxK-MinK+1 {
				t.Errorf("silhouettes of %d k, want %d", len(m.Silhouettes), MaxK-MinK+1)
			}
			blobOf := map[int]int{} // cluster → blob
			for i, p := range pts {
				c := m.Assign(p)
				if b, ok := blobOf[c]; ok && b != labels[i] {
					t.Fatalf("planted %d: cluster %d holds blobs %d and %d", k, c, b, labels[i])
				}
				blobOf[c] = labels[i]
			}
			if len(blobOf) != k {
				t.Fatalf("planted %d: %d clusters used", k, len(blobOf))
			}
			for _, c := range m.Clusters {
				if c.Size != 150 {
					t.Errorf("planted %d: cluster %s of size %d, want 150", k, c.Name, c.Size)
				}
			}
			if m.Silhouette < 0.5 {
				t.Errorf("planted %d: silhouette %v of well-separated blobs", k, m.Silhouette)
			}
		}
	}
}

// TestFitRefuses: too few points, bad rows and non-finite values are errors.
func TestFitRefuses(t *testing.T) {
	if _, err := Fit(context.Background(), names4, [][]float64{{1, 2, 3, 4}, {2, 3, 4, 5}}, 0, 0); err == nil {
		t.Error("two points clustered")
	}
	if _, err := Fit(context.Background(), names4, [][]float64{{1, 2, 3}, {1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}, 2, 0); err == nil {
		t.Error("a short row accepted")
	}
}
