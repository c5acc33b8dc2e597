package main

import (
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/journey-cdp/journey/privacy"
)

// envForgetKill is read only by the crash tests of forget
// (forget_kill_test.go): the process kills itself (SIGKILL, nothing
// flushed, nothing closed) at a step of privacy.Engine.Forget — its value a
// step name ("log", "views", "erase", "stream"), "erase:N" for the Nth
// stream message erased, or "after:DURATION" for a kill that long after
// Forget starts. Unset (always, outside those tests) it does nothing.
const envForgetKill = "JOURNEY_TEST_FORGET_KILL"

func init() {
	v := os.Getenv(envForgetKill)
	if v == "" {
		return
	}
	kill := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	if d, ok := strings.CutPrefix(v, "after:"); ok {
		delay, err := time.ParseDuration(d)
		if err != nil {
			panic(envForgetKill + ": " + err.Error())
		}
		privacy.TestHook = func(step string) {
			if step == privacy.StepStart {
				time.AfterFunc(delay, kill)
			}
		}
		return
	}
	name, nth := v, 1
	if s, n, ok := strings.Cut(v, ":"); ok {
		name = s
		nth = 0
		for _, c := range n {
			nth = nth*10 + int(c-'0')
		}
	}
	seen := 0
	privacy.TestHook = func(step string) {
		if step == name {
			if seen++; seen >= nth {
				kill()
			}
		}
	}
}
