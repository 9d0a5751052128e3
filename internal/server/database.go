package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/postgres"
	"github.com/livegate/livegate/internal/store/sqlite"
)

// StoreConfig selects the store; every subcommand that opens one (serve, apps create, rtmp
// nginx-conf) goes through OpenStore with it.
type StoreConfig struct {
	// DatabaseURL, when set, is a PostgreSQL URL (postgres:// or postgresql://): the store
	// several livegate processes share. Unset: SQLite in DataDir.
	DatabaseURL string
	// DataDir holds the SQLite database (when DatabaseURL is unset).
	DataDir string
	// PollOnly has a PostgreSQL store's log follower poll instead of LISTEN (for a proxy
	// between livegate and PostgreSQL that does not pass LISTEN on).
	PollOnly bool
	// MaxClockOffset: on PostgreSQL, how far this node's clock may be from the database's
	// before its writes are refused (STORAGE_UNAVAILABLE), since several nodes' clocks stamp
	// one feed (see the postgres package's "Clocks"). Zero: postgres.DefaultMaxClockOffset;
	// negative: no check.
	MaxClockOffset time.Duration
	// MustExist has OpenStore refuse to create a new, empty SQLite database: the CLI's
	// commands that administer an existing installation set it (unless --create), so that
	// a mistyped --data-dir is an error naming the path, not a fresh database.
	MustExist bool
}

// Describe names the store for logs and messages: the data dir, or the database's
// host:port/name (never the password).
func (c StoreConfig) Describe() string {
	if c.DatabaseURL == "" {
		return c.DataDir
	}
	if u, err := url.Parse(c.DatabaseURL); err == nil {
		return u.Host + u.Path
	}
	return "the database URL"
}

// OpenStore opens the store c selects, applying its migrations. Errors name the data dir or
// the database host and the cause, never the URL's password.
func OpenStore(ctx context.Context, c StoreConfig) (store.Store, error) {
	if c.DatabaseURL == "" {
		if c.MustExist {
			path := filepath.Join(c.DataDir, sqlite.FileName)
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no livegate database in --data-dir %s (%s does not exist): check --data-dir, or pass --create to create a new, empty one", c.DataDir, path)
			}
		}
		db, err := sqlite.Open(ctx, c.DataDir)
		if err != nil {
			return nil, fmt.Errorf("open store in %s: %w", c.DataDir, err)
		}
		return db, nil
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: not echoed.
		return nil, fmt.Errorf("--database-url cannot be parsed as a URL (not shown: it may hold a password); want postgres://user:password@host:port/database")
	}
	// No host is allowed: pgx then takes PGHOST or the local socket, as psql does.
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("--database-url for host %q: unsupported scheme %q: want postgres:// or postgresql://", u.Host, u.Scheme)
	}
	db, err := postgres.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db.SetListen(!c.PollOnly)
	switch {
	case c.MaxClockOffset > 0:
		db.SetMaxClockOffset(c.MaxClockOffset)
	case c.MaxClockOffset < 0:
		db.SetMaxClockOffset(0)
	}
	return db, nil
}
