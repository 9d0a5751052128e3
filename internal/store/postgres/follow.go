package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
)

// Following the log (store.LogFollower)
//
// Every node feeds its hub by tailing the events table: all tenants, "seq > the last one
// delivered ORDER BY seq", in batches bounded by count and by bytes. That never skips an
// event, because sequences become visible strictly in commit order (the counter row's
// lock, see the package doc), and never repeats one, because the cursor only moves forward.
// What remains is when to read:
//
//   - After every commit, the committing Store wakes its own followers at once (in process)
//     and sends NOTIFY on FeedChannel, from the pool in a statement of its own, after the
//     COMMIT returned. Never inside the ingest transaction: NOTIFY takes a cluster-wide lock
//     at commit (PreCommit_Notify in async.c) that would serialize every commit of the
//     cluster behind the notification queue, and a full queue would fail the commit. The
//     notification carries nothing: it is only a hint that there is something to read, so
//     notifications sent while one is in flight are coalesced into one.
//   - Each following Store LISTENs on one dedicated connection (pgx.Connect with the pool's
//     settings, not a pooled connection, which the pool could hand to someone else or
//     close), waiting in WaitForNotification. It pings the connection when nothing arrived
//     for a while, reconnects with jittered exponential backoff when it is lost (a
//     PostgreSQL restart, pg_terminate_backend, a network cut), and reads on every
//     (re)connect: notifications sent while it was away are lost.
//   - A read every PollInterval regardless, the safety net: a lost notification costs at
//     most that much latency.
//   - Poll-only (SetListen(false)) leaves out LISTEN, for a proxy between livegate and
//     PostgreSQL that does not pass LISTEN on: latency is then up to one poll interval for
//     other nodes' events (this node's own commits still wake it at once). PgBouncer in
//     session mode does pass it on (TestThroughPgBouncer).

// FeedChannel is the NOTIFY channel of new events.
const FeedChannel = "livegate_feed"

// PollInterval is how often a follower reads the log without being woken.
const PollInterval = time.Second

// Bounds of one read of the log.
const (
	followBatch = 512
	followBytes = 4 << 20
)

// listenPing: a listener that heard nothing for this long checks its connection.
const listenPing = 30 * time.Second

// SetListen chooses whether FollowLog LISTENs for notifications (the default) or only
// polls (false: for a proxy that does not pass LISTEN on). Call it before FollowLog.
func (s *Store) SetListen(on bool) { s.pollOnly = !on }

// SetLogger sets where FollowLog reports trouble (default slog.Default()). Call it before
// FollowLog.
func (s *Store) SetLogger(l *slog.Logger) { s.log.Store(l) }

// Host is the database's host:port/name, for messages (never the password).
func (s *Store) Host() string { return s.host }

func (s *Store) logger() *slog.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// FollowLog implements store.LogFollower (see "Following the log" above).
func (s *Store) FollowLog(ctx context.Context, after uint64, fn func([]store.Event), gap func(prunedThrough uint64)) error {
	wake := make(chan struct{}, 1)
	s.wakersMu.Lock()
	s.wakers[wake] = struct{}{}
	s.wakersMu.Unlock()
	defer func() {
		s.wakersMu.Lock()
		delete(s.wakers, wake)
		s.wakersMu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listening := make(chan struct{})
	if s.pollOnly {
		close(listening)
	} else {
		go func() {
			defer close(listening)
			s.listen(ctx, wake)
		}()
	}
	defer func() { cancel(); <-listening }()

	cursor := after
	failing := false
	poll := time.NewTicker(PollInterval)
	defer poll.Stop()
	for {
		for {
			events, more, err := s.tail(ctx, cursor)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !failing {
					s.logger().Error("follow the event log: read failed; retrying every poll interval", "database", s.host, "after", cursor, "error", err)
					failing = true
				}
				break
			}
			if failing {
				s.logger().Info("follow the event log: reading again", "database", s.host, "after", cursor)
				failing = false
			}
			if len(events) == 0 {
				break
			}
			if events[0].Sequence != cursor+1 {
				// Sequences have no holes but those retention leaves (see the package doc):
				// what did not come after cursor may have been pruned before it was read.
				// (An empty read needs no check: nothing is published until events come,
				// and the first read that has some finds the hole before them.)
				pruned, err := s.prunedThrough(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.logger().Error("follow the event log: read the retention watermark failed; retrying every poll interval", "database", s.host, "after", cursor, "error", err)
					failing = true
					break
				}
				if pruned > cursor {
					s.logger().Warn("follow the event log: fell behind retention; events after the last one read were pruned before it read them",
						"database", s.host, "after", cursor, "pruned_through", pruned)
					gap(pruned)
					cursor = pruned
					continue
				}
			}
			fn(events)
			cursor = events[len(events)-1].Sequence
			if len(events) < followBatch && !more {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
		}
	}
}

// prunedThrough reads the greatest sequence retention pruned (0: none).
func (s *Store) prunedThrough(ctx context.Context) (uint64, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `SELECT pruned_through FROM feed_retention WHERE id = 1`).Scan(&p); err != nil {
		return 0, describe(fmt.Errorf("read the retention watermark: %w", err))
	}
	return uint64(p), nil
}

// tail reads the events after cursor, of every tenant, in sequence order, up to followBatch
// events and followBytes bytes of bodies (at least one event). PostgreSQL applies the byte
// budget (withinBudget): a follower behind a run of large events is sent the bodies it
// keeps, not every body of the batch.
func (s *Store) tail(ctx context.Context, cursor uint64) ([]store.Event, bool, error) {
	rows, err := s.pool.Query(ctx,
		withinBudget(`SELECT `+queries.EventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, queries.EventColumns, `$3`),
		int64(cursor), followBatch, followBytes)
	if err != nil {
		return nil, false, describe(fmt.Errorf("read the event log after %d: %w", cursor, err))
	}
	events, more, err := queries.ScanEventsKept(rows, fmt.Sprintf("read the event log after %d", cursor))
	return events, more, describe(err)
}

// listen holds a LISTEN connection until ctx ends, waking the follower on every
// notification and on every (re)connect.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) {
	backoff := 100 * time.Millisecond
	const maxBackoff = 5 * time.Second
	failures := 0
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake, func() { backoff, failures = 100*time.Millisecond, 0 })
		if ctx.Err() != nil {
			return
		}
		failures++
		if failures == 1 || failures%20 == 0 {
			s.logger().Warn("follow the event log: LISTEN connection lost; reconnecting (the log is polled meanwhile)",
				"database", s.host, "error", err, "attempt", failures)
		}
		// Jittered: nodes that lost the database together do not reconnect together.
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce connects, LISTENs and waits for notifications until the connection fails or
// ctx ends. connected is called once LISTEN took effect.
func (s *Store) listenOnce(ctx context.Context, wake chan<- struct{}, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+FeedChannel); err != nil {
		return err
	}
	connected()
	poke(wake) // what was committed while no one listened
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			poke(wake)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return err
		}
	}
}

// poke wakes a follower without blocking (one pending wake-up is enough).
func poke(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// committedEvents is called by the committer after a commit that appended events: it
// wakes this Store's followers and has the notifier tell the other nodes.
func (s *Store) committedEvents() {
	s.wakersMu.Lock()
	for w := range s.wakers {
		poke(w)
	}
	s.wakersMu.Unlock()
	poke(s.notifyCh)
}

// notifier sends NOTIFY after commits, outside the committing transactions, coalescing the
// commits made while one is in flight. It runs until stop is closed.
func (s *Store) notifier() {
	defer close(s.notifierDone)
	for {
		select {
		case <-s.commits.Closing():
			return
		case <-s.notifyCh:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, FeedChannel)
		cancel()
		if err != nil {
			// Harmless: the other nodes read within a poll interval anyway.
			s.logger().Debug("notify other nodes of a commit", "database", s.host, "error", err)
		}
	}
}
