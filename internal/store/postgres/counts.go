package postgres

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
	rows, err := s.pool.Query(ctx, `SELECT status, COUNT(*) FROM livestreams GROUP BY status`)
	if err != nil {
		return c, describe(fmt.Errorf("postgres: count livestreams: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return c, describe(fmt.Errorf("postgres: count livestreams: %w", err))
		}
		c.Livestreams[store.Status(st)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return c, describe(fmt.Errorf("postgres: count livestreams: %w", err))
	}
	var pub, all int64
	err = s.pool.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE publishing), COUNT(*) FROM rtmp_clients`).Scan(&pub, &all)
	if err != nil {
		return c, describe(fmt.Errorf("postgres: count RTMP clients: %w", err))
	}
	c.RtmpPublishers, c.RtmpViewers = int(pub), int(all-pub)
	return c, nil
}

// ObserveCommits sets fn to be told, after each group commit, how many writes it held and
// how long it took (see groupcommit.Queue.Observe).
func (s *Store) ObserveCommits(fn func(writes int, d time.Duration)) { s.commits.Observe(fn) }
