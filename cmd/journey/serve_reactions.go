package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/journey-cdp/journey/handlers/reactions"
	"github.com/journey-cdp/journey/internal/engine"
)

// addReactionsFlags adds serve's reactions flags: --reactions (on by
// default; =false switches them off), --reactions-config FILE (the policy
// file, handlers/reactions/REACTIONS.md), --reactions-sweep-every.
func addReactionsFlags(cmd *cobra.Command, r *engine.Reactions) {
	f := cmd.Flags()
	f.Var((*reactionsOn)(r), "reactions", "run the reactions: thank-you, win-back and complaint escalation on journey.actions.<kind> (=false: off)")
	f.Lookup("reactions").NoOptDefVal = "true"
	f.Var((*reactionsFile)(r), "reactions-config", "reactions policy file (JSON: switches, CEL conditions, rate limits, SLA, holidays; see handlers/reactions/REACTIONS.md)")
	f.DurationVar(&r.SweepEvery, "reactions-sweep-every", 0, "how often the reactions' sweeper looks for customers whose time has come (default 1m)")
	// Tests only (TestServeKillBetweenDecideAndDispatch): the dispatcher
	// waits this long before each publish, to hold decided actions in the
	// log undispatched. Hidden; zero by default.
	f.DurationVar(&r.Config.DispatchDelay, "reactions-dispatch-delay", 0, "tests only: wait before each action's publish")
	_ = f.MarkHidden("reactions-dispatch-delay")
}

// reactionsOn is --reactions: the inverse of Reactions.Off.
type reactionsOn engine.Reactions

func (o *reactionsOn) String() string {
	if o == nil {
		return "true"
	}
	return strconv.FormatBool(!o.Off)
}

func (o *reactionsOn) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.Off = !v
	return nil
}

func (*reactionsOn) Type() string     { return "bool" }
func (*reactionsOn) IsBoolFlag() bool { return true }

// reactionsFile is --reactions-config: the file is read when the flag is
// parsed, so that a bad one is a usage error naming its field.
type reactionsFile engine.Reactions

func (f *reactionsFile) String() string { return "" }

func (f *reactionsFile) Set(path string) error {
	c, err := reactions.LoadConfig(path)
	if err != nil {
		return err
	}
	c.DispatchDelay = f.Config.DispatchDelay // --reactions-dispatch-delay, in either order
	f.Config = c
	return nil
}

func (*reactionsFile) Type() string { return "FILE" }
