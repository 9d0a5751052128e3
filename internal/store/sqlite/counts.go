package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/livegate/livegate/internal/store"
)

var _ store.Counter = (*Store)(nil)

// Counts implements store.Counter: livestreams by status, RTMP clients by role.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	c := store.Counts{Livestreams: map[store.Status]int{}}
	rows, err := s.r.QueryContext(ctx, `SELECT status, COUNT(*) FROM livestreams GROUP BY status`)
	if err != nil {
		return c, describe(fmt.Errorf("sqlite: count livestreams: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return c, describe(fmt.Errorf("sqlite: count livestreams: %w", err))
		}
		c.Livestreams[store.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return c, describe(fmt.Errorf("sqlite: count livestreams: %w", err))
	}
	err = s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(publishing), 0), COUNT(*) - COALESCE(SUM(publishing), 0) FROM rtmp_clients`).
		Scan(&c.RtmpPublishers, &c.RtmpViewers)
	if err != nil {
		return c, describe(fmt.Errorf("sqlite: count RTMP clients: %w", err))
	}
	return c, nil
}

// ObserveCommits sets fn to be told, after each group commit, how many writes it held and
// how long it took (see groupcommit.Queue.Observe).
func (s *Store) ObserveCommits(fn func(writes int, d time.Duration)) { s.commits.Observe(fn) }
