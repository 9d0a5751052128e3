package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/livegate/livegate/internal/apierror"
)

// Clocks
//
// Several nodes write one feed, and each stamps what it writes with its own clock: an event's
// received_at, by which retention prunes (store.Writer.PruneEvents: every event up to the
// newest received before the cut goes), the times the projection compares provider times
// with, a webhook endpoint's first failure, by which its retry gives up. A node whose clock
// is far behind the others' makes retention delete, at once, events the other nodes
// acknowledged a moment ago (an event stamped a day early, with a retention of an hour, takes
// every event before it along), and the other times go wrong with it.
//
// So every write transaction checks the node's clock against the database's, in the round
// trip that takes the write lock (and /readyz, with HealthCheck): PostgreSQL's clock_timestamp() must lie between the node's
// clock before the statement was sent and after its answer came, give or take the allowed
// offset (SetMaxClockOffset; DefaultMaxClockOffset). The statement's wait for the lock
// widens that window, so a wait never looks like an offset. A node whose clock is off by
// more is refused every write, STORAGE_UNAVAILABLE (503: a provider retries, and may reach a
// node whose clock is right), until its clock is right again; /readyz says why meanwhile. Reads, the feed and leases do not depend on the clock and go on. The same
// check costs nothing on SQLite's single node, whose one clock stamps and prunes alike, and
// is not made there.

// DefaultMaxClockOffset is how far a node's clock may be from the database's before its
// writes are refused: the tolerance the projection gives provider times (a minute), far
// beyond what NTP keeps machines to, far below any retention.
const DefaultMaxClockOffset = time.Minute

// SetMaxClockOffset sets how far this node's clock may be from the database's before its
// writes are refused (see "Clocks" above); d <= 0 turns the check off. Call it before the
// store is used.
func (s *Store) SetMaxClockOffset(d time.Duration) { s.maxClockOffset = d }

// HealthCheck checks this node's clock against the database's now, as every write transaction
// does (see "Clocks" above): nil, or STORAGE_UNAVAILABLE naming the offset; an error reading
// the database's clock is returned as it is. /readyz asks it, so that a node whose clock is
// off says so before a write is refused, and says so again once it is right.
func (s *Store) HealthCheck(ctx context.Context) error {
	var micros int64
	sent := s.now()
	err := s.pool.QueryRow(ctx, `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&micros)
	got := s.now()
	if err != nil {
		return describe(fmt.Errorf("postgres: read the database's clock: %w", err))
	}
	return s.checkClock(sent, got, time.UnixMicro(micros))
}

// writeLock is the statement that opens every write transaction: the idle timeout of a
// transaction that holds the write lock (writeIdleTimeout), then the write lock itself, the
// counter row (an UPDATE rather than SELECT ... FOR UPDATE: a lock the top-level transaction
// holds on a row version it created itself is not lost when a savepoint that updated the
// row again is rolled back), returning the database's clock once the lock is granted, in
// Unix microseconds. No arguments: the simple protocol, which takes several statements.
const writeLock = `SET LOCAL idle_in_transaction_session_timeout = '` + writeIdleTimeout + `';
UPDATE feed_head SET head = head WHERE id = 1 RETURNING (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`

// takeWriteLock runs writeLock on conn and checks this node's clock against the database's.
func (s *Store) takeWriteLock(ctx context.Context, conn *pgconn.PgConn) error {
	sent := s.now()
	results, err := conn.Exec(ctx, writeLock).ReadAll()
	got := s.now()
	if err != nil {
		return fmt.Errorf("postgres: take the write lock (the feed counter): %w", err)
	}
	if len(results) != 2 || len(results[1].Rows) != 1 || len(results[1].Rows[0]) != 1 {
		return fmt.Errorf("postgres: take the write lock: the feed's counter row is missing")
	}
	micros, err := strconv.ParseInt(string(results[1].Rows[0][0]), 10, 64)
	if err != nil {
		return fmt.Errorf("postgres: take the write lock: the database's clock: %w", err)
	}
	return s.checkClock(sent, got, time.UnixMicro(micros))
}

// checkClock checks db, the database's clock read between sent and got by this node's
// clock, against them, and records the outcome (clockProblem: a change is logged).
func (s *Store) checkClock(sent, got, db time.Time) error {
	if s.maxClockOffset <= 0 {
		return nil
	}
	sent, got = sent.Round(0), got.Round(0) // wall clocks: monotonic readings mean nothing to the database
	var problem string
	switch {
	case sent.Sub(db) > s.maxClockOffset:
		problem = fmt.Sprintf("this node's clock is %s ahead of the database's", roughly(sent.Sub(db)))
	case db.Sub(got) > s.maxClockOffset:
		problem = fmt.Sprintf("this node's clock is %s behind the database's", roughly(db.Sub(got)))
	}
	if problem == "" {
		if old := s.clockProblem.Swap(nil); old != nil {
			s.logger().Info("this node's clock agrees with the database's again: writes resume", "database", s.host)
		}
		return nil
	}
	problem += fmt.Sprintf(" (more than the %s allowed, --max-clock-offset): this node refuses writes until its clock is set right (NTP)", s.maxClockOffset)
	if old := s.clockProblem.Swap(&problem); old == nil {
		s.logger().Error("clock offset: refusing writes", "database", s.host, "problem", problem)
	}
	return apierror.New(apierror.ReasonStorageUnavailable, "%s", problem).With("kind", "clock_offset")
}

// roughly rounds an offset for a message: to the second from 10 s up, else to the millisecond.
func roughly(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
