// Package postgres is livegate's store.Store on PostgreSQL (tested with Debian 12's
// PostgreSQL 15), for installations past one machine: several livegate processes share one
// database, and a delivery any of them committed is in the one feed.
//
// # The feed sequence: commit order, no gap
//
// A subscriber follows the feed by sequence ("events after my cursor"), so sequences must
// become visible in increasing order: once a reader has seen sequence n, no transaction may
// later commit an event below n. A SEQUENCE or IDENTITY column does not give that. Its
// values are handed out at INSERT and never rolled back, and transactions commit in another
// order than they drew: a reader at 11 skips a 10 that commits after it, for ever (with 32
// writers and a plain "seq > cursor" tailer, 31 % of the events were skipped, measured
// before this store was written; see also eugene-khyst/postgresql-event-sourcing, README
// §4.7.1). Gap detection with a timeout cannot tell a slow transaction from a rolled-back
// one (Marten, Eventuous), and a transaction-id horizon needs a pair cursor and stalls on
// any long transaction.
//
// Here the sequence comes from a single counter row, feed_head, incremented by the appending
// transaction itself (UPDATE feed_head SET head = head + 1 RETURNING head, in the statement
// that inserts the event). The row lock on it is held until the transaction ends, so
// appending transactions commit one after the other in the order they took their
// sequences; and PostgreSQL makes a commit visible before it releases the transaction's
// locks (xact.c, CommitTransaction), so the next writer's sequences are never visible
// before this one's. A transaction that rolls back rolls its increments back too: no hole.
// head is transactional, so FeedBounds read in a snapshot never names an event that
// snapshot cannot see. message-db (an advisory lock per category), RailsEventStore (one
// global advisory lock) and Centrifugo (a per-channel row) serialize the same step.
//
// One lock for every append costs throughput, so Updates are grouped as on SQLite: one
// committer per Store runs every queued Update in one transaction, each under its own
// SAVEPOINT (a failing Update undoes only its own writes), and commits once; one lock and
// one commit cover the batch (16 deliveries a transaction under one lock did 1,470-2,030
// events/s on a 2-core machine, against 104-217 transactions/s with one delivery each).
//
// # One writer at a time
//
// The committer takes the counter row's lock at the start of every batch, before any fn
// runs, not at the first append. So the write transactions of every process sharing the
// database run one at a time, as on SQLite, and each sees every one committed before it
// (READ COMMITTED takes a new snapshot per statement, after the lock was granted):
//
//   - "Read, then write if absent" inside one Update is atomic against every other Update,
//     on any node: a delivery's dedupe (the second node reads the first one's events and
//     answers with their sequences), the first Amity event of a streamId, one publisher
//     per livestream, one active livestream per meeting, the RTMP callback secret.
//   - No deadlocks. With the lock taken at the first append instead, a batch that wrote
//     row r and then waits for the counter, and a batch on another node that holds the
//     counter and then writes r, wait for each other until PostgreSQL aborts one.
//
// The price is that writes that append nothing queue too; but nearly every livegate write
// appends an event, early in its fn, so a later lock would save little. (The usual advice,
// "take the lock as late as possible", is about work done before it in the transaction:
// here there is none.)
//
// The rules are also constraints, so that they hold for any writer (plain SQL, a future
// change to the locking): unique (partial) indexes, whose violation (SQLSTATE 23505) is
// store.ErrAlreadyExists, on the dedupe key of an event, the livestream of a provider stream
// (streamId), the livestream of a meeting, a stream key, a setting (the RTMP callback
// secret). One publisher per livestream is not an index: the store contract (storetest's
// RtmpPublisher case) lets a livestream have two publishing clients, the newest winning,
// and the single writer keeps Publish from registering a second one. A write that fails
// leaves the transaction usable (each write statement runs under a savepoint of its own,
// as SQLite behaves), so the caller can go on and read what is there.
//
// # Transactions and timeouts
//
// View runs in REPEATABLE READ READ ONLY: one snapshot for all its reads, so FeedBounds and
// the rows agree. Update runs in READ COMMITTED, as it must: in REPEATABLE READ, updating the
// counter row that another process committed after the transaction's snapshot fails (40001)
// every time. Every connection gets a lock_timeout (10 s), a statement_timeout (30 s) and an
// idle_in_transaction_session_timeout (60 s) unless the URL sets them (any PostgreSQL
// parameter may be given as a query parameter of the URL), and a write transaction, which
// holds the write lock, an idle timeout of 5 s whatever the URL says (writeIdleTimeout): a
// process that stalls holding the write lock holds up the others' writes for at most that
// long, then its transaction is aborted, and nothing of it was acknowledged. Errors that mean "the database is
// unreachable or gave up" (a lost connection, a timeout, a full disk, a shutdown, a
// COMMIT whose outcome is unknown) are STORAGE_UNAVAILABLE (HTTP 503), never success: the
// provider retries, and dedupe makes the retry safe.
//
// OnCommit reports the commits of this Store (this process) only. A node's feed follows the
// commits of every process with FollowLog (follow.go: a tail of the events table by
// sequence, woken by NOTIFY sent after commit, and a poll every second).
//
// # Jobs that run on one node
//
// Store is a store.Leaser: background jobs that must run once per installation (retention
// pruning, the RTMP reaper) run under a lease, a session-level pg_try_advisory_lock held on
// a connection of its own by the node that took it (lease.go). The others try again every
// interval; when the holder ends, its session ends, PostgreSQL frees the lock, and another
// node takes over within one interval. Through a pooler in transaction mode session locks
// do not work, and nor do migrations' (below): livegate supports PostgreSQL itself, or
// PgBouncer in session mode (TestThroughPgBouncer; the timeouts above then go in its
// ignore_startup_parameters and on the database, see poolerHint).
//
// # Schema
//
// Migrations are migrations/NNNN_name.sql, embedded and applied at Open, each in its own
// transaction, under a session advisory lock so that processes starting at once migrate
// once. A database migrated by a newer binary is refused. Timestamps are BIGINT Unix
// microseconds UTC and durations DOUBLE PRECISION seconds, as on SQLite.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/groupcommit"
	"github.com/livegate/livegate/internal/store/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Default session settings, unless the URL sets them.
var defaultParams = map[string]string{
	"lock_timeout":                        "10s",
	"statement_timeout":                   "30s",
	"idle_in_transaction_session_timeout": "60s",
}

// writeIdleTimeout is the idle_in_transaction_session_timeout of a write transaction, which
// holds every node's write lock: a process that stalls there (SIGSTOP, a machine that stops
// scheduling it) holds up every node's writes for this long, then PostgreSQL ends its session
// and nothing of its batch was acknowledged. Under lock_timeout (10 s), so that the writes
// queued behind it are not answered 503 first. A batch is never idle that long otherwise:
// between its statements it runs only the Updates' Go code.
const writeIdleTimeout = "5s"

// timeoutNames are defaultParams' names, sorted.
var timeoutNames = slices.Sorted(maps.Keys(defaultParams))

// migrateLockKey is the advisory lock key held while migrating ("livegate" in ASCII).
const migrateLockKey int64 = 0x6c69766567617465

// Store is the PostgreSQL implementation of store.Store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	host string // host:port/database, for messages (never the password)

	commits  *groupcommit.Queue
	onCommit func([]store.Event)

	// Following the log (follow.go).
	connCfg      *pgx.ConnConfig // the listener's connection settings
	pollOnly     bool
	log          atomic.Pointer[slog.Logger]
	wakersMu     sync.Mutex
	wakers       map[chan struct{}]struct{}
	notifyCh     chan struct{}
	notifierDone chan struct{}

	// The clock check (clock.go).
	now            func() time.Time
	maxClockOffset time.Duration
	clockProblem   atomic.Pointer[string]

	// Leases (lease.go).
	leasesMu     sync.Mutex
	leases       map[*lease]struct{}
	leasesClosed bool
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.LogFollower = (*Store)(nil)
)

// Open connects to the database at url (postgres://user:pass@host:port/db?...), brings its
// schema up to date and starts the committer. Errors name the host and database, never the
// password.
func Open(ctx context.Context, url string) (*Store, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		// Not echoed: it may hold a password.
		return nil, errors.New("postgres: the database URL must start with postgres:// or postgresql://")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's parse errors redact the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	for k, v := range defaultParams {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
	}
	s := &Store{
		host:           net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))) + "/" + cfg.ConnConfig.Database,
		now:            time.Now,
		maxClockOffset: DefaultMaxClockOffset,
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", s.host, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w%s", s.host, err, poolerHint(err))
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: migrate %s: %w", s.host, err)
	}
	s.connCfg = cfg.ConnConfig.Copy()
	s.wakers = map[chan struct{}]struct{}{}
	s.notifyCh = make(chan struct{}, 1)
	s.notifierDone = make(chan struct{})
	s.commits = groupcommit.Start("postgres", s.commitBatch)
	go s.notifier()
	return s, nil
}

// poolerHint says what to do when a connection pooler refused the session settings every
// connection asks for (defaultParams): PgBouncer fails the login on a startup parameter it
// does not know, unless its ignore_startup_parameters lists it.
func poolerHint(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "unsupported startup parameter") {
		return ""
	}
	return fmt.Sprintf(" (a connection pooler such as PgBouncer refused a session setting: list %s in its ignore_startup_parameters, and set them on the database instead, with ALTER DATABASE ... SET; see the README, \"More than one machine\")",
		strings.Join(timeoutNames, ","))
}

// TimeoutsOff lists, by name, the session timeouts Open asks for (lock_timeout,
// statement_timeout, idle_in_transaction_session_timeout) that are off (0) on the store's
// connections: set to 0 in the URL, or dropped by a pooler (PgBouncer's
// ignore_startup_parameters) and not set on the database instead.
func (s *Store) TimeoutsOff(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM pg_settings WHERE name = ANY($1) AND setting = '0' ORDER BY name`, timeoutNames)
	if err != nil {
		return nil, describe(fmt.Errorf("postgres: read the session timeouts: %w", err))
	}
	off, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, describe(fmt.Errorf("postgres: read the session timeouts: %w", err))
	}
	return off, nil
}

// Pool is the store's connection pool (for tests and tools that need raw SQL).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// View runs fn in a read-only snapshot (REPEATABLE READ READ ONLY).
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return describe(fmt.Errorf("postgres: begin read: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to undo
	err = fn(newTxn(tx, false, true))
	if ctx.Err() != nil {
		return err // the caller gave up: not the database's failure
	}
	return describe(err)
}

// Update runs fn in a write transaction and commits it (see store.Store). Concurrent
// Updates are committed in groups, as on SQLite (see the package doc).
func (s *Store) Update(ctx context.Context, fn func(store.Writer) error) error {
	return describe(s.commits.Submit(ctx, fn))
}

// OnCommit sets the function told about the events each commit appended (see store.Store).
// It reports this Store's commits only; other processes' commits reach a node by following
// the log.
func (s *Store) OnCommit(fn func([]store.Event)) { s.onCommit = fn }

// commitBatch runs a group of Updates in one transaction and reports to each.
func (s *Store) commitBatch(batch []*groupcommit.Update) {
	ctx := context.Background() // statements ignore the callers' cancellation (see txn.ctx)
	errs := make([]error, len(batch))
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		for _, u := range batch {
			u.Done(fmt.Errorf("postgres: begin write: %w", err))
		}
		return
	}
	// The write lock: the counter row, first thing (see the package doc, "One writer at a
	// time"), with the clock check (clock.go).
	if err := s.takeWriteLock(ctx, tx.Conn().PgConn()); err != nil {
		_ = tx.Rollback(ctx)
		for _, u := range batch {
			u.Done(err)
		}
		return
	}
	var appended []store.Event
	ok := 0
	for i, u := range batch {
		if err := u.Ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT u"); err != nil {
			errs[i] = fmt.Errorf("postgres: savepoint: %w", err)
			failRest(ctx, tx, batch, errs, i)
			return
		}
		t := newTxn(tx, true, false)
		errs[i] = u.Run(t)
		if errs[i] != nil || u.Panicked() {
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT u"); err != nil {
				errs[i] = fmt.Errorf("postgres: roll back to savepoint after %w: %v", errs[i], err)
				failRest(ctx, tx, batch, errs, i)
				return
			}
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT u"); err != nil {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("postgres: release savepoint: %w", err)
			}
			failRest(ctx, tx, batch, errs, i)
			return
		}
		if errs[i] == nil && !u.Panicked() {
			ok++
			appended = append(appended, t.appended...)
		}
	}
	if ok == 0 {
		_ = tx.Rollback(ctx)
	} else if err := tx.Commit(ctx); err != nil {
		// Possibly committed, possibly not (a connection lost during COMMIT): never report
		// success. The caller answers 503; a retried delivery finds its dedupe key.
		for i := range batch {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("postgres: commit: %w", err)
			}
		}
		appended = nil
	}
	if len(appended) > 0 {
		if s.onCommit != nil {
			s.onCommit(appended)
		}
		// After the commit, never inside it (see follow.go).
		s.committedEvents()
	}
	for i, u := range batch {
		u.Done(errs[i])
	}
}

// failRest gives up on a transaction in an unknown state: it rolls it back and fails every
// Update of the batch that has not failed yet (those before i were in it; those after it
// never ran).
func failRest(ctx context.Context, tx pgx.Tx, batch []*groupcommit.Update, errs []error, i int) {
	_ = tx.Rollback(ctx)
	for j, u := range batch {
		if errs[j] == nil {
			if j < i {
				errs[j] = fmt.Errorf("postgres: the transaction shared with another Update failed: %w", errs[i])
			} else {
				errs[j] = fmt.Errorf("postgres: not run, the transaction failed: %w", errs[i])
			}
		}
		u.Done(errs[j])
	}
}

// Close stops the committer (failing queued Updates) and closes the pool.
func (s *Store) Close() error {
	s.closeLeases()
	if s.commits != nil {
		s.commits.Close()
		<-s.notifierDone
	}
	s.pool.Close()
	return nil
}

// --- errors ---

// describe turns errors that mean "the database is unreachable or gave up" into
// STORAGE_UNAVAILABLE (HTTP 503), keeping the cause in the chain; others are returned as
// they are.
func describe(err error) error {
	if err == nil {
		return nil
	}
	var already *apierror.Error
	if errors.As(err, &already) {
		return err
	}
	why, kind := unavailable(err)
	if why == "" {
		return err
	}
	return &storageError{
		api:   apierror.New(apierror.ReasonStorageUnavailable, "%s", why).With("kind", kind),
		why:   why,
		cause: err,
	}
}

// unavailable says why err means the database cannot serve now, or "" if it does not.
func unavailable(err error) (why, kind string) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", "" // a caller's context (context.DeadlineExceeded is a net.Error too)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return "the database's disk is full", "full"
		case strings.HasPrefix(pe.Code, "53"):
			return "the database is out of resources (" + pe.Code + ")", "resources"
		case strings.HasPrefix(pe.Code, "08"):
			return "the connection to the database failed", "connection"
		case pe.Code == "57014":
			return "a database statement timed out", "timeout"
		case pe.Code == "55P03":
			return "a database lock was not granted in time", "lock_timeout"
		case pe.Code == "40001" || pe.Code == "40P01":
			return "the database aborted the transaction to resolve a conflict (" + pe.Code + ")", "conflict"
		case pe.Code == "25P03":
			return "the database transaction stayed idle too long", "idle_timeout"
		case strings.HasPrefix(pe.Code, "57P"):
			return "the database is shutting down or restarting", "shutdown"
		case pe.Code == "25006":
			return "the database is read-only (a standby?)", "read_only"
		}
		return "", ""
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "the database cannot be reached", "connection"
	case pgconn.SafeToRetry(err), pgconn.Timeout(err), errors.As(err, &ne):
		return "the connection to the database failed", "connection"
	case errors.Is(err, pgx.ErrTxClosed), strings.Contains(err.Error(), "conn closed"):
		return "the connection to the database was lost", "connection"
	}
	return "", ""
}

type storageError struct {
	api   *apierror.Error
	why   string
	cause error
}

func (e *storageError) Error() string   { return e.why + ": " + e.cause.Error() }
func (e *storageError) Unwrap() []error { return []error{e.api, e.cause} }

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// --- migrations ---

// migrate applies the migrations the database lacks, each in its own transaction, holding
// a session advisory lock so that processes opening the database at once migrate one at a
// time (the later ones find the versions recorded).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
			// The lock goes with the session: do not put the connection back holding it.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest *int64
	if err := conn.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && newest != nil && *newest > ms[len(ms)-1].Version {
		return fmt.Errorf("database schema version %d is newer than this binary's (%d)", *newest, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if err := apply(ctx, conn.Conn(), m); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, m migration.Migration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// No arguments: the simple protocol, which runs a file of several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixMicro())
		return err
	})
}
