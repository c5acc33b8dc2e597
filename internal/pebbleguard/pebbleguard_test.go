package pebbleguard

import (
	"errors"
	"syscall"
	"testing"
)

func TestRun(t *testing.T) {
	if err := Run(func() error { return nil }, syscall.ENOSPC); err != nil {
		t.Fatalf("a write that succeeds: %v", err)
	}
	plain := errors.New("plain")
	if err := Run(func() error { return plain }, syscall.ENOSPC); err != plain {
		t.Fatalf("a write's own error: %v", err)
	}
	err := Run(func() error { panic(Fatal("fsync: input/output error")) }, syscall.ENOSPC)
	if err == nil || err.Error() != "fsync: input/output error" || errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a fatal error: %v", err)
	}
	err = Run(func() error { panic(Fatal("write 000005.log: no space left on device")) }, syscall.ENOSPC)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a full disk: %v, want ENOSPC wrapped", err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("another panic: recovered %v, want it to go on", r)
		}
	}()
	_ = Run(func() error { panic("other") }, syscall.ENOSPC)
	t.Fatal("another panic was swallowed")
}
