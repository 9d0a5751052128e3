// Package sqlite is livegate's embedded store: store.Store on one SQLite file,
// <dir>/livegate.db, with no server and no cgo.
//
// # Driver
//
// modernc.org/sqlite (SQLite's C source translated to Go). It was chosen over
// github.com/ncruces/go-sqlite3 (SQLite compiled to Wasm, then to Go) by measuring both on the
// project's machine (2 cores, virtio disk) with the same schema and connection setup as here:
//
//	                                           modernc v1.61.1    ncruces v0.36.0
//	single-row insert tx (WAL, sync=FULL)      700-2,250 tx/s     920-3,750 tx/s
//	  same, 4 concurrent writers               1,600-3,400 tx/s   910-2,800 tx/s
//	indexed point read in a read-only tx       14,000-30,000 /s   17,500-31,000 /s
//	  same, parallel readers                   12,000-27,700 /s   8,900-23,500 /s
//	50-row page by tenant+created_at           6,200-8,600 /s     4,700-7,700 /s
//	open + first query                         1.7-2.0 ms         7.3-12.2 ms
//	cold build of a binary using it            61 s               36 s
//
// Writes are fsync-bound (the ranges are the disk's noise, not the driver's), and reads are a
// tie. What decided it: modernc binds "$N" placeholders by their number, as PostgreSQL does,
// while ncruces binds them in order of first appearance, so "WHERE a = $2 AND b = $1" silently
// swaps its arguments there; modernc opens a database four times faster (the CLI opens one per
// command, the tests one per case); and ncruces' newest release (v0.37.0) cannot be fetched
// here (its Wasm module is refused by the module proxy). The cost is a slower cold build.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: the WAL is fsynced at every commit, so
// a transaction whose Update returned nil survives a process crash and a power loss (or kernel
// panic) alike. A transaction still open when the process dies leaves nothing behind: its WAL
// frames have no commit record and are ignored when the database is next opened.
//
// synchronous=NORMAL would fsync only at checkpoints: the database would still never be
// corrupted, and still lose nothing to a process crash (the WAL is in the OS page cache), but a
// power loss could roll back the last transactions that were reported committed, which breaks
// livegate's rule that a 2xx is sent only after a durable commit. The price of FULL is one
// fsync per commit: this package's BenchmarkUpdate does 1,400-2,300 single-row Updates a second
// here, and BenchmarkView about 37,000 point-read Views a second. (On macOS, fsync does not
// flush the drive's cache; that would need PRAGMA fullfsync, not set here.)
//
// # Connections
//
// SQLite allows one writer at a time. Writes go through a dedicated *sql.DB limited to one
// connection, and every write transaction starts with BEGIN IMMEDIATE, which takes the write
// lock up front: two writers (this process and the `livegate apps create` CLI, say) then queue
// on busy_timeout instead of deadlocking on a read-to-write lock upgrade. Concurrent Update
// calls in this process queue for the single connection. Reads use a separate pool of
// read-only connections; in WAL mode they run concurrently with the writer and see a
// consistent snapshot for the whole View. Foreign keys are on for every connection.
//
// Calling Update from inside another Update's fn deadlocks (the one connection is taken).
//
// # Schema
//
// Migrations are the files migrations/NNNN_name.sql, embedded in the binary and applied at
// Open in version order, each in its own transaction together with its row in
// schema_migrations; a re-open applies nothing twice. A database migrated by a newer binary
// (a version this one does not know) is refused rather than written. Timestamps are BIGINT
// Unix microseconds UTC, NULL when unset; durations are seconds as DOUBLE PRECISION.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	moderncsqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/groupcommit"
	"github.com/livegate/livegate/internal/store/migration"
)

// FileName is the database file Open uses inside its directory.
const FileName = "livegate.db"

// busyTimeout is how long a connection waits for a lock another connection or process holds
// (the CLI writing while the server runs) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readerMmapSize is how much of the database file each read-only connection maps into memory
// (PRAGMA mmap_size): SQLite's build limit, 2 GiB less 64 KiB, so the whole file up to that
// size. A mapped page is read in place from the operating system's page cache, where a read()
// copied it into the connection's own cache first, which on a fresh connection had to be
// allocated as well. BenchmarkFeed/replay/events=20000, a fresh server (-benchtime 1x),
// 5 alternating pairs: median 228k -> 261k events/s; warm (20x), 3 pairs: 342k-358k ->
// 396k-402k.
//
// What SQLite documents against mapping: an I/O error while reading a mapped page is a
// signal, not an error code, and in Go a fatal fault, so a failing disk ends the process
// where a read() failed one request. Nothing committed is at risk (the writer does not map
// the file, and writes go to the WAL), and a disk that fails reads fails the process's
// commits too. The writer connection keeps read().
const readerMmapSize = 2147418112

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the SQLite implementation of store.Store. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // one connection, BEGIN IMMEDIATE
	r    *sql.DB // read-only connections

	// Group commit: Update queues its fn; one committer goroutine runs the queued fns in one
	// transaction, each under its own savepoint, and commits them with one fsync.
	commits  *groupcommit.Queue
	onCommit func([]store.Event)

	// The database file as opened, and the committer's last look at it (gone.go).
	opened      os.FileInfo
	fileChecked time.Time
	fileErr     error
}

var _ store.Store = (*Store)(nil)

// Open opens the database <dir>/livegate.db, creating dir and the file if they do not exist,
// and brings its schema up to date. Another process may have the same database open.
//
// The database holds webhook secrets and stream keys in clear: dir is created 0700, and the
// database file 0600 (SQLite gives its -wal and -shm files the database file's mode); existing
// files readable or writable by group or others are narrowed to 0600.
//
// Open fails, naming the path and the cause, when the database cannot be written (a
// read-only file, directory or file system, a full disk): it commits one real write to find
// out, rather than serving and failing every write later.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	s := &Store{path: path}

	s.w, err = openDB(dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	err = retryBusy(ctx, func() error {
		if err := s.checkWriter(ctx); err != nil {
			return fmt.Errorf("sqlite: open %s: %w", path, describe(err))
		}
		if err := s.migrate(ctx); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", path, err)
		}
		if err := s.probeWrite(ctx); err != nil {
			return fmt.Errorf("sqlite: %s cannot be written: %w", path, describe(err))
		}
		return nil
	})
	if err != nil {
		s.w.Close()
		return nil, err
	}

	// The reader pool opens after the writer has created the file and switched it to WAL:
	// a read-only connection can neither create the database nor change its journal mode.
	s.r, err = openDB(dsn(path, true))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.r.PingContext(ctx); err != nil {
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	if s.opened, err = os.Stat(path); err != nil {
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.fileChecked = time.Now()
	s.commits = groupcommit.Start("sqlite", s.commitBatch)
	return s, nil
}

// openDB is a pool of the driver's connections to dsn, each keeping its prepared statements
// for its life (see cachingConn).
func openDB(dsn string) (*sql.DB, error) {
	c, err := newCachingConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// restrictFiles creates the database file 0600 if it does not exist, so that SQLite (which
// creates -wal and -shm with the database file's mode) never makes a more open one, and
// narrows an existing database, -wal or -shm file that group or others may read or write.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %s cannot be opened for writing: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("sqlite: narrow the mode of %s to owner-only: %w", p, err)
			}
		}
	}
	return nil
}

// probeWrite commits one real write: the database header's user_version (which livegate does
// not use) set to the value it has. A database that cannot be written fails here, at Open.
func (s *Store) probeWrite(ctx context.Context) error {
	var v int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.FormatInt(v, 10)); err != nil {
		return err
	}
	return tx.Commit()
}

// SetMaxPageCount caps the size of the database at n pages (PRAGMA max_page_count on the
// writer connection; it cannot go below the current size) and returns the cap in force.
// Writes that would grow the database past it fail as on a full disk (SQLITE_FULL): tests use
// it to make a full disk.
func (s *Store) SetMaxPageCount(ctx context.Context, n int64) (int64, error) {
	var got int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA max_page_count = `+strconv.FormatInt(n, 10)).Scan(&got); err != nil {
		return 0, fmt.Errorf("sqlite: max_page_count: %w", err)
	}
	return got, nil
}

// PageCount returns the number of pages the database has.
func (s *Store) PageCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: page_count: %w", err)
	}
	return n, nil
}

// describe turns SQLite's errors that mean "the database cannot be written" into
// STORAGE_UNAVAILABLE (HTTP 503) with a message saying why, keeping the cause in the chain;
// other errors are returned as they are.
func describe(err error) error {
	var e *moderncsqlite.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	why, kind := unwritable(e.Code())
	if why == "" {
		return err
	}
	var already *apierror.Error
	if errors.As(err, &already) {
		return err
	}
	return &storageError{
		api:   apierror.New(apierror.ReasonStorageUnavailable, "%s: %s", why, e.Error()).With("kind", kind),
		why:   why,
		cause: err,
	}
}

// unwritable says why SQLite's (extended) result code means the database cannot be
// written, and its kind; "" if it does not.
func unwritable(code int) (why, kind string) {
	if code == sqlite3.SQLITE_IOERR_SHMSIZE {
		// The WAL's shared-memory file could not grow: SQLite's documentation gives a
		// full disk as the likely cause, and it was one at start on a full disk (the
		// operations audit was sent looking for a failed disk).
		return "the database's shared-memory file (livegate.db-shm) could not grow: the disk is most likely full", "full"
	}
	switch code & 0xff {
	case sqlite3.SQLITE_FULL:
		return "the database is full (the disk, or its size limit)", "full"
	case sqlite3.SQLITE_READONLY:
		return "the database is read-only (its file, directory or file system)", "read_only"
	case sqlite3.SQLITE_IOERR:
		return "the database's disk failed (I/O error)", "io_error"
	case sqlite3.SQLITE_CANTOPEN:
		return "the database's files cannot be opened", "cant_open"
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return "the database is locked by another process or connection (longer than the busy timeout)", "locked"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return "the database file is corrupt: restore it from a backup", "corrupt"
	}
	return "", ""
}

// storageError is STORAGE_UNAVAILABLE (its message for clients: why, and SQLite's words)
// with the error that caused it (for the log: where, too).
type storageError struct {
	api   *apierror.Error
	why   string
	cause error
}

func (e *storageError) Error() string   { return e.why + ": " + e.cause.Error() }
func (e *storageError) Unwrap() []error { return []error{e.api, e.cause} }

// retryBusy runs fn again while it fails with SQLITE_BUSY, for up to busyTimeout. SQLite
// answers SQLITE_BUSY without waiting on busy_timeout when waiting could deadlock, and it does
// so when processes open a new database at once: the first statement of a writer connection
// (its pragmas, switching the file to WAL) or a migration then fails at once. Opening and
// migrating are idempotent, so they are simply run again.
func retryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(busyTimeout)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		var e *moderncsqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// dsn is the driver's data source name for the database at path: a file: URI whose query
// holds SQLite's own parameters (mode) and the driver's (_pragma, _txlock). The pragmas run on
// every new connection, in order; busy_timeout comes first so the others wait for locks too.
func dsn(path string, readOnly bool) string {
	q := []string{
		"_pragma=" + url.QueryEscape("busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")"),
		"_pragma=" + url.QueryEscape("foreign_keys(1)"),
		"_pragma=" + url.QueryEscape("synchronous(FULL)"),
	}
	if readOnly {
		q = append(q, "mode=ro", "_pragma="+url.QueryEscape("mmap_size("+strconv.FormatInt(readerMmapSize, 10)+")"))
	} else {
		// journal_mode is stored in the file; setting it needs a writable connection.
		q = append(q, "_pragma="+url.QueryEscape("journal_mode(WAL)"), "_txlock=immediate")
	}
	// EscapedPath escapes '?', '#', '%' and spaces, which would otherwise end or garble the
	// path part of the URI.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + strings.Join(q, "&")
}

// checkWriter makes sure the writer connection got the settings durability depends on.
func (s *Store) checkWriter(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var sync, fk int
	if err := s.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return err
	}
	if sync != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", sync)
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign keys are off")
	}
	return nil
}

// Path returns the database file's absolute path.
func (s *Store) Path() string { return s.path }

// View runs fn in a read-only transaction on a snapshot of the database.
//
// fn runs on a goroutine of its own, which View waits for; if fn panics, View panics with
// the same value (and if fn calls runtime.Goexit, View does). SQLite's code (translated from
// C) runs deep: one read takes the stack of the goroutine that makes it to 16 KB, and a
// goroutine keeps its stack at its largest until the garbage collector finds it using under
// a quarter of it, which one parked a few frames down never is. A Subscribe handler reads the
// store before it waits on the feed (its token, the feed's bounds, the first page of its
// replay) and then waited, for the life of its stream, on 16 KB where 8 KB holds it.
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	var (
		err      error
		returned bool
		panicked any
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		err = s.view(ctx, fn)
		returned = true
	}()
	<-done
	switch {
	case panicked != nil:
		panic(panicked)
	case !returned: // fn called runtime.Goexit (a test's t.FailNow): so does the caller
		runtime.Goexit()
	}
	return err
}

// view is View on the calling goroutine.
func (s *Store) view(ctx context.Context, fn func(store.Reader) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return describe(fmt.Errorf("sqlite: begin read: %w", err))
	}
	// Rollback also runs when fn panics; a read-only transaction has nothing to commit.
	defer tx.Rollback() //nolint:errcheck // nothing to undo
	return describe(fn(newTxn(tx, false, nil)))
}

// Update runs fn in a write transaction and commits it durably. If fn returns an error or
// panics, nothing fn wrote is kept (and the panic goes on in the caller).
//
// Concurrent Updates are committed in groups: the committer runs every fn queued at the
// time in one transaction, in arrival order, each inside a savepoint so that one failing fn
// undoes only its own writes, and commits once. Many Updates then share one fsync, and each
// returns only after that commit. A context canceled before its fn runs cancels the Update.
func (s *Store) Update(ctx context.Context, fn func(store.Writer) error) error {
	return describe(s.commits.Submit(ctx, fn))
}

// OnCommit sets the function told about the events each commit appended (see store.Store).
func (s *Store) OnCommit(fn func([]store.Event)) { s.onCommit = fn }

// commitBatch runs a group of Updates in one transaction and reports to each.
func (s *Store) commitBatch(batch []*groupcommit.Update) {
	ctx := context.Background() // each fn gets its own caller's context
	errs := make([]error, len(batch))
	if err := s.checkFileEvery(time.Now()); err != nil {
		for _, u := range batch {
			u.Done(err)
		}
		return
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		for _, u := range batch {
			u.Done(fmt.Errorf("sqlite: begin write: %w", err))
		}
		return
	}
	var appended []store.Event
	ok := 0
	shared := &batchState{}
	for i, u := range batch {
		if err := u.Ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT u"); err != nil {
			errs[i] = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		t := newTxn(tx, true, shared)
		errs[i] = u.Run(t)
		if errs[i] != nil || u.Panicked() {
			shared.appsVersionKnown = false // what u read of apps may be undone with it
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO u"); err != nil {
				// The transaction is in an unknown state: give up on the whole group.
				_ = tx.Rollback()
				for j, v := range batch {
					if errs[j] == nil {
						// Keep the cause: SQLite rolls the whole transaction back by itself
						// after some errors (SQLITE_FULL, SQLITE_IOERR), which is why the
						// savepoint is gone.
						errs[j] = fmt.Errorf("sqlite: roll back to savepoint after %w: %v", errs[i], err)
					}
					v.Done(errs[j])
				}
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE u"); err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("sqlite: release savepoint: %w", err)
		}
		if errs[i] == nil && !u.Panicked() {
			ok++
			appended = append(appended, t.appended...)
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		for i := range batch {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("sqlite: commit: %w", err)
			}
		}
		appended = nil
	}
	if len(appended) > 0 && s.onCommit != nil {
		s.onCommit(appended)
	}
	for i, u := range batch {
		u.Done(errs[i])
	}
}

// Close closes the read pool, then the writer. When the last connection to the database
// closes, SQLite checkpoints the WAL into the database file.
func (s *Store) Close() error {
	if s.commits != nil {
		s.commits.Close()
	}
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// migration is one embedded migrations/NNNN_name.sql file.
// migrate applies the migrations the database does not have yet, each in its own
// transaction. BEGIN IMMEDIATE serializes it with another process migrating the same file:
// the second one waits, then finds the version recorded and skips it.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := s.w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && newest.Valid && newest.Int64 > ms[len(ms)-1].Version {
		return fmt.Errorf("database schema version %d is newer than this binary's (%d)",
			newest.Int64, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration.Migration) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
