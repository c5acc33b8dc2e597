package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/journey-cdp/journey/projections/clusters"
	"github.com/journey-cdp/journey/projections/customer"
)

// clustersFile is the stored cluster fit, in the data directory (beside
// the views, so that rebuilds keep it).
const clustersFile = "clusters.fit.json"

// NoCluster is the cluster segment of customers without a purchase (and of
// every customer while no clusters are fitted).
const NoCluster = "none"

// ErrNoClusters is returned by Segments by cluster before FitClusters.
var ErrNoClusters = errors.New("no clusters fitted (run journey clusters)")

// FitClusters clusters the customers with a purchase at asOf (zero: now)
// by their standardised recency, frequency, monetary value and
// satisfaction (see projections/clusters) into k clusters (k ≤ 0: chosen
// by silhouette from 2 to 8), from seed (0: clusters.DefaultSeed), and
// stores the fit in the data directory: later Segments answers place every
// customer in its nearest cluster (by "cluster"). The fit survives
// rebuilds.
func (v *Views) FitClusters(ctx context.Context, asOf time.Time, k int, seed uint64) (*clusters.Model, error) {
	var pts [][]float64
	var at time.Time
	err := v.Customers(ctx, asOf, false, func(c *customer.Answer) error {
		at = c.AsOf
		if x, ok := clusters.Features(c); ok {
			pts = append(pts, x)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m, err := clusters.Fit(ctx, clusters.FeatureNames, pts, k, seed)
	if err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = asOf
	}
	m.AsOf = at.UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := v.writeDataFile(clustersFile, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("projections: storing the cluster fit: %w", err)
	}
	return m, nil
}

// Clusters returns the stored cluster fit, nil when there is none.
func (v *Views) Clusters() (*clusters.Model, error) {
	fs := v.opts.FS
	f, err := fs.Open(fs.PathJoin(v.dataDir, clustersFile))
	if err != nil {
		if oserrorIsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var m clusters.Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("projections: %s: %w", clustersFile, err)
	}
	if len(m.Clusters) == 0 || len(m.Mean) != len(m.Features) || len(m.Std) != len(m.Features) {
		return nil, fmt.Errorf("projections: %s holds no usable fit", clustersFile)
	}
	return &m, nil
}

// clusterOf is the cluster segment of a customer under m (nil: NoCluster).
func clusterOf(m *clusters.Model, c *customer.Answer) string {
	if m == nil {
		return NoCluster
	}
	x, ok := clusters.Features(c)
	if !ok {
		return NoCluster
	}
	if n := m.Name(x); n != "" {
		return n
	}
	return NoCluster
}

// writeDataFile writes name in the data directory atomically: a synced
// temporary file renamed over it, then the directory synced.
func (v *Views) writeDataFile(name string, b []byte) error {
	fs := v.opts.FS
	path := fs.PathJoin(v.dataDir, name)
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, "")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	d, err := fs.OpenDir(v.dataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
