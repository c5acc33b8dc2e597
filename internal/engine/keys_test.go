package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/keystore"
)

// openDataLog opens the log of a data dir the engine wrote, with its keys
// (a new data dir is encrypted under DATA/keys/master.key).
func openDataLog(t testing.TB, data string, readOnly bool) (*eventstore.Store, error) {
	t.Helper()
	ks, err := keystore.OpenDataDir(data, keystore.DataDirOptions{ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	o := &eventstore.Options{ReadOnly: readOnly}
	if ks != nil {
		o.Sealer, o.CloseSealer = ks, true
	}
	return eventstore.Open(filepath.Join(data, "log"), o)
}
