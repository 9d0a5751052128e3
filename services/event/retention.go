package event

import (
	"context"
	"log/slog"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Retention says how much of the feed to keep: events younger than MaxAge (0: any age), and
// at most MaxEvents (0: any number).
type Retention struct {
	MaxAge    time.Duration
	MaxEvents uint64
}

// keepsAll: this retention prunes nothing.
func (r Retention) keepsAll() bool { return r.MaxAge <= 0 && r.MaxEvents == 0 }

// PruneBatch is how many events one transaction of PruneOnce deletes at most. Each holds the
// write lock (every node's, on PostgreSQL) while it runs: a backlog of 1.5 million events
// deleted at once held up all ingest for 4.2 s, and one that outlasts statement_timeout was
// never pruned at all. A batch takes tens of milliseconds, and writes queue between them.
const PruneBatch = 10_000

// PruneOnce deletes what retention no longer keeps, as of now, in transactions of at most
// PruneBatch events, and tells pruned (if set) how many events each deleted.
func (r Retention) PruneOnce(ctx context.Context, st store.Store, now time.Time, pruned func(n int)) error {
	var before time.Time
	if r.MaxAge > 0 {
		before = now.Add(-r.MaxAge)
	}
	for {
		var n int
		err := st.Update(ctx, func(w store.Writer) error {
			var err error
			n, err = w.PruneEvents(ctx, before, r.MaxEvents, PruneBatch)
			return err
		})
		if err != nil {
			return err
		}
		if pruned != nil && n > 0 {
			pruned(n)
		}
		if n < PruneBatch {
			return nil
		}
	}
}

// RetentionLease is the lease (store.Leaser) under which one node at a time prunes the feed.
const RetentionLease = "retention"

// DefaultPruneInterval is how often a Pruner prunes.
const DefaultPruneInterval = time.Minute

// Pruner is retention's background work: it prunes what Retention no longer keeps, at once
// and then every Interval, on one node at a time (under the lease RetentionLease; see
// store.RunExclusive), until its context ends.
type Pruner struct {
	Retention Retention
	Store     store.Store
	Log       *slog.Logger
	// Interval between prunes (zero: DefaultPruneInterval).
	Interval time.Duration
	// Pruned, if set, is told how many events each committed prune deleted (metrics).
	Pruned func(n int)
}

// Run prunes until ctx ends, then returns nil. Failures are logged, and the next interval
// tries again. A Retention that keeps everything returns at once, taking no lease.
func (p Pruner) Run(ctx context.Context) error {
	if p.Retention.keepsAll() {
		return nil
	}
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultPruneInterval
	}
	store.RunExclusive(ctx, p.Store, RetentionLease, interval, func(ctx context.Context) {
		if err := p.Retention.PruneOnce(ctx, p.Store, time.Now(), p.Pruned); err != nil && ctx.Err() == nil {
			p.Log.Error("enforce event retention", "error", err)
		}
	}, func(err error) { p.Log.Error("take the retention lease", "error", err) })
	return nil
}
