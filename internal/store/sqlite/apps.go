package sqlite

import (
	"context"

	"github.com/livegate/livegate/internal/store"
)

// The apps' SQL is shared (queries.Queries); SQLite's group commit adds one thing: the
// Updates of one group share the AppsVersion read in its transaction (batchState), and a
// write to apps forgets it.

func (x *txn) CreateApp(ctx context.Context, a store.App) error {
	x.appsChanged()
	return x.Queries.CreateApp(ctx, a)
}

func (x *txn) UpdateAppCredentials(ctx context.Context, a store.App) error {
	x.appsChanged()
	return x.Queries.UpdateAppCredentials(ctx, a)
}

func (x *txn) DeleteApp(ctx context.Context, t store.Tenant) error {
	x.appsChanged()
	return x.Queries.DeleteApp(ctx, t)
}

func (x *txn) AppsVersion(ctx context.Context) (uint64, error) {
	if x.batch != nil && x.batch.appsVersionKnown {
		return x.batch.appsVersion, nil
	}
	n, err := x.Queries.AppsVersion(ctx)
	if err != nil {
		return 0, err
	}
	if x.batch != nil {
		x.batch.appsVersion, x.batch.appsVersionKnown = n, true
	}
	return n, nil
}

// appsChanged forgets the group's AppsVersion: apps are being written (their triggers move
// it), and a write rolled back to its savepoint moves it back.
func (x *txn) appsChanged() {
	if x.batch != nil {
		x.batch.appsVersionKnown = false
	}
}
