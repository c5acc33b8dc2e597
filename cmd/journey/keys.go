package main

import (
	"github.com/spf13/pflag"

	"github.com/journey-cdp/journey/eventstore"
	"github.com/journey-cdp/journey/internal/cli"
	"github.com/journey-cdp/journey/keystore"
)

// addKeyFlag gives a command that opens the data dir --master-key-file.
func (a *app) addKeyFlag(f *pflag.FlagSet) {
	f.StringVar(&a.masterKeyFile, "master-key-file", "",
		"the data dir's master key (default $"+keystore.MasterKeyEnv+", then DATA/keys/master.key); a new data dir is encrypted under it")
}

// openLog opens the data dir's log (see cli.OpenLogKeys) with its keys.
func (a *app) openLog(create bool, o *eventstore.Options) (*eventstore.Store, error) {
	return cli.OpenLogKeys(a.dataDir(), create, o, a.masterKeyFile)
}
