package store

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseHeld: another process holds the lease (Leaser.Lease).
var ErrLeaseHeld = errors.New("lease held by another process")

// Leaser is a store several processes share that lets one of them at a time hold a named
// lease (PostgreSQL: a session advisory lock on a connection of its own). Background jobs
// that must not run on every node at once take one (see RunExclusive).
type Leaser interface {
	// Lease tries once to take the lease called name. If another process holds it, the
	// error wraps ErrLeaseHeld. Otherwise held is a context that ends when the lease is
	// lost (its connection ended: the database restarted, the session was terminated, the
	// network failed), when ctx ends or when the store closes; and release gives the lease
	// back (call it once the work done under the lease stopped; it is safe to call twice).
	// A holder that ends the way processes end (exit, SIGKILL, a lost network) loses the
	// lease with its connection, so another process can take it.
	//
	// A lost lease is told through held, not before the database freed it: work under it
	// must stop when held ends, and may overlap another holder's for as long as it takes
	// to notice (normally the time to read the connection's end).
	Lease(ctx context.Context, name string) (held context.Context, release func(), err error)
}

// LeaseCounter is a Leaser that can count the leases held, by every process on the
// database, whose names start with prefix. Processes that each hold a lease of their own
// under one prefix so learn how many of them there are (outbound webhook slots are shared
// out that way).
type LeaseCounter interface {
	Leaser
	CountLeases(ctx context.Context, prefix string) (int, error)
}

// RunExclusive runs fn at once and then every interval, until ctx ends, in this process
// only while it holds the lease called name (if st is a Leaser). Without the lease it tries
// again every interval; so when the holder ends, another process takes over within about
// one interval. fn is given a context that ends when the lease is lost, and must stop
// then. onErr is told about failures to take the lease other than ErrLeaseHeld. If st is
// not a Leaser, fn just runs every interval.
func RunExclusive(ctx context.Context, st Store, name string, interval time.Duration, fn func(context.Context), onErr func(error)) {
	l, ok := st.(Leaser)
	if !ok {
		every(ctx, interval, fn)
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		held, release, err := l.Lease(ctx, name)
		switch {
		case err == nil:
			failing = false
			every(held, interval, fn)
			release()
		case errors.Is(err, ErrLeaseHeld):
			failing = false
		case ctx.Err() == nil && !failing:
			onErr(err)
			failing = true // told once per outage
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// every runs fn at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for ctx.Err() == nil {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
