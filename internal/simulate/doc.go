// Package simulate generates realistic, synthetic customer journeys as
// CloudEvents touchpoints (JSONL), for demos, tests and benchmarks.
//
// The output is a pure function of Config: one math/rand/v2 PCG generator
// seeded with Config.Seed drives every choice, including the event and
// customer ids (UUIDv7-shaped: the event time's milliseconds and random bits
// from the seeded generator), so the same Config gives byte-identical output.
//
// Customers arrive over the simulated period and follow one of a handful of
// archetypes (prospects, window shoppers, one-time and impulse buyers,
// repeat, promotional and loyal customers, advocates who refer others,
// angry customers who complain (sometimes escalating to an authority or the
// media, sometimes resolved), customers who go silent and churn, foreign and
// business customers). Every touchpoint kind of the contract occurs. Some
// store tills are offline and sync hours or days later: their events appear
// later in the stream than their event time, out of order.
//
// Generation streams: each customer is a small state machine that produces
// one episode (a visit, a purchase and its aftermath, a complaint…) at a
// time, and events wait in a heap keyed by arrival time only until no
// earlier event can still be produced. Memory is proportional to the
// customers active at once and the events in flight (a few days of
// traffic), not to the number of events written. Events are written in
// arrival order (time they would reach the engine).
package simulate
