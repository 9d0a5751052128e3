package store

import "context"

// Counts is the state across all tenants that the state gauges show.
type Counts struct {
	// Livestreams by status (a status without livestreams may be absent).
	Livestreams map[Status]int
	// RTMP clients nginx-rtmp reported and that have not gone: publishing, and playing.
	RtmpPublishers, RtmpViewers int
}

// Counter is a store that counts its state across tenants cheaply (a query per table,
// grouped, no rows sent): both of livegate's stores are.
type Counter interface {
	Counts(ctx context.Context) (Counts, error)
}

// Statuses are the livestream statuses, in a fixed order.
var Statuses = []Status{StatusIdle, StatusInvoked, StatusLive, StatusErrored}
