// Package customer is the customer model: what journey concludes about one
// customer from their touchpoints, with no storage (it imports no Pebble
// and no event store; package projections stores and feeds it).
//
// State is a deterministic fold of a customer's events in event-time
// order (State.Apply, then State.MarkReferred for the referrals naming
// them); it keeps only facts that do not depend on "now" and encodes to a
// compact binary form (State.MarshalBinary). Config.Derive answers about a
// State at an instant — an Answer: lifecycle stage, flags, types,
// satisfaction, churn status (with p_alive from a BG/NBD fit, package
// bgnbd), RFM score and CEL rule segments — against a Population: the
// median inter-purchase gap (kept as a GapHistogram of the customers' mean
// gaps, so it does not depend on fold order), the ChurnFit and the
// RFMScorer's quintiles. NPSAggregator tallies NPS answers overall, by
// store and by month. Config (LoadConfig, DefaultConfig) holds the rule
// parameters; they apply at derive time, so a change needs no refold.
//
// The rules, with the reasons behind them, are in RULES.md (this directory);
// one example customer per stage, flag and type is in testdata/fold/.
package customer
