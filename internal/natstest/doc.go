// Package natstest runs real, in-process NATS servers with JetStream for
// tests: a random loopback port, the file store on the test's temp dir, and
// shutdown registered with t.Cleanup. No mocks.
package natstest
