package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/store"
)

// Leases (store.Leaser)
//
// A lease is a session-level advisory lock, pg_try_advisory_lock(key), taken on a
// connection of its own (pgx.Connect with the pool's settings, as the LISTEN connection:
// a pooled connection would go back to the pool still holding the lock, or be closed under
// it). The key is a hash of the lease's name. The holder keeps the connection open and
// waits on it; PostgreSQL frees the lock when the session ends, whatever the reason (the
// process exited or was killed, the connection was terminated, the network failed and the
// server's TCP keepalive gave up), so another node's next try takes it. The holder learns
// that its session ended by reading the connection (and by pinging it every leasePing):
// then held is cancelled, and the job running under it stops.
//
// A lease needs a session of its own: through a pooler in transaction mode a session lock
// stays with a server connection the pooler then gives to other clients, so livegate
// supports PostgreSQL itself, or PgBouncer in session mode (TestThroughPgBouncer).

// leasePing: a lease holder that heard nothing for this long checks its connection.
const leasePing = 10 * time.Second

// leaseGrace bounds how long a lease given up by ctx or Close waits for its job to stop
// (release) before ending its session and so freeing the lock.
const leaseGrace = 10 * time.Second

// leaseKey is the advisory lock key of the lease called name.
func leaseKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("livegate lease " + name))
	return int64(h.Sum64())
}

type lease struct {
	lose     context.CancelFunc
	released chan struct{} // closed by release
	done     chan struct{} // closed once the session ended
}

var _ store.Leaser = (*Store)(nil)

// Lease implements store.Leaser (see "Leases" above).
func (s *Store) Lease(ctx context.Context, name string) (context.Context, func(), error) {
	// A lease another session holds is refused through the pool first, with no session of
	// its own: a node retrying leases it does not hold (the 16 webhook delivery slots every
	// 10 s) would otherwise connect, and make PostgreSQL start a backend, for each try.
	// Only a lease seen free is tried on a connection of its own; the lock decides.
	if held, err := s.leaseHeld(ctx, name); err == nil && held {
		return nil, nil, fmt.Errorf("postgres: lease %q: %w", name, store.ErrLeaseHeld)
	}
	cfg := s.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = leaseAppName + name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, describe(fmt.Errorf("postgres: lease %q: connect to %s: %w", name, s.host, err))
	}
	closeConn := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaseKey(name)).Scan(&ok); err != nil {
		closeConn()
		return nil, nil, describe(fmt.Errorf("postgres: lease %q: %w", name, err))
	}
	if !ok {
		closeConn()
		return nil, nil, fmt.Errorf("postgres: lease %q: %w", name, store.ErrLeaseHeld)
	}
	held, lose := context.WithCancel(ctx)
	l := &lease{lose: lose, released: make(chan struct{}), done: make(chan struct{})}
	s.leasesMu.Lock()
	if s.leasesClosed {
		s.leasesMu.Unlock()
		lose()
		closeConn()
		return nil, nil, errors.New("postgres: store is closed")
	}
	if s.leases == nil {
		s.leases = map[*lease]struct{}{}
	}
	s.leases[l] = struct{}{}
	s.leasesMu.Unlock()
	go func() {
		defer func() {
			s.leasesMu.Lock()
			delete(s.leases, l)
			s.leasesMu.Unlock()
			close(l.done)
		}()
		defer closeConn() // ends the session: PostgreSQL frees the lock
		defer func() {
			// Unlock first, on a session still alive: the lock is then free when release
			// returns, not some time after, when PostgreSQL has ended the closed session.
			if !conn.IsClosed() {
				uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, leaseKey(name))
				cancel()
			}
		}()
		defer lose()
		s.holdLease(held, conn, l, name)
	}()
	var once sync.Once
	release := func() {
		once.Do(func() { close(l.released) })
		lose()
		<-l.done
	}
	return held, release, nil
}

// leaseAppName starts the application_name of a lease's session; the lease's name follows
// (PostgreSQL keeps the first 63 bytes).
const leaseAppName = "livegate lease "

var _ store.LeaseCounter = (*Store)(nil)

// CountLeases implements store.LeaseCounter: the sessions holding an advisory lock whose
// application_name is a lease's with a name starting with prefix (prefix must be short
// enough to survive the 63-byte cut).
func (s *Store) CountLeases(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT a.pid) FROM pg_stat_activity a
		JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
		WHERE a.datname = current_database() AND starts_with(a.application_name, $1)`, leaseAppName+prefix).Scan(&n)
	if err != nil {
		return 0, describe(fmt.Errorf("postgres: count leases %q: %w", prefix, err))
	}
	return n, nil
}

// leaseHeld reports whether some session holds the lease called name's advisory lock.
// pg_locks shows a one-key advisory lock with the key's high 32 bits as classid, its low 32
// bits as objid, and objsubid 1.
func (s *Store) leaseHeld(ctx context.Context, name string) (bool, error) {
	key := uint64(leaseKey(name))
	var held bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::bigint::oid AND objid = $2::bigint::oid)`,
		int64(key>>32), int64(uint32(key))).Scan(&held)
	return held, err
}

// holdLease waits on the lease's connection until the session ends (the lease is lost) or
// held ends (given up: then it waits, up to leaseGrace, for the job to stop).
func (s *Store) holdLease(held context.Context, conn *pgx.Conn, l *lease, name string) {
	for {
		wctx, cancel := context.WithTimeout(held, leasePing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case held.Err() != nil:
			select {
			case <-l.released:
			case <-time.After(leaseGrace):
			}
			return
		case err == nil:
			// A notification: none is expected on this connection.
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(held, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil && held.Err() == nil {
				s.logger().Warn("lease lost: its connection failed; another node may take it", "lease", name, "database", s.host, "error", err)
				return
			}
		default:
			s.logger().Warn("lease lost: its connection ended; another node may take it", "lease", name, "database", s.host, "error", err)
			return
		}
	}
}

// closeLeases gives every lease up, waiting (each up to leaseGrace) for its job to stop.
func (s *Store) closeLeases() {
	s.leasesMu.Lock()
	s.leasesClosed = true
	ls := make([]*lease, 0, len(s.leases))
	for l := range s.leases {
		ls = append(ls, l)
	}
	s.leasesMu.Unlock()
	for _, l := range ls {
		l.lose()
	}
	for _, l := range ls {
		<-l.done
	}
}
