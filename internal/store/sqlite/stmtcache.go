package sqlite

import (
	"context"
	"database/sql/driver"
	"strings"

	moderncsqlite "modernc.org/sqlite"
)

// Prepared statements, kept for the life of a connection.
//
// The driver prepares (parses and plans) the SQL text of every Exec and Query anew, which was
// the largest single cost of a webhook delivery (sqlite3Prepare, about 18 % of the CPU at 64
// senders). A cachingConn wraps each connection the driver opens, the writer's and every
// reader's, and keeps the statements it has prepared, by SQL text, until the connection
// closes: the store's queries are a fixed set, so each is parsed once per connection.
//
// The statements are prepared on the connection itself, inside the driver, never through
// *sql.DB (which would take another connection from the pool, and deadlock on the writer's
// single one while a transaction holds it). database/sql never uses one connection from two
// goroutines at once, so the cache needs no lock. A statement whose rows are still open (a
// query run again while iterating its own results) is busy: the second run gets a statement
// of its own, closed with its rows. A statement is reset when its rows close or its Exec
// ends, so a cached statement never holds a read snapshot or a lock between uses.

// maxCachedStatements bounds a connection's cache; SQL text past it is prepared per call, as
// the driver does. The store issues far fewer distinct statements than this.
const maxCachedStatements = 256

// cachingConnector opens the driver's connections and wraps each in a cachingConn.
type cachingConnector struct{ driver.Connector }

func newCachingConnector(dsn string) (driver.Connector, error) {
	c, err := moderncsqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{c}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn), nil
}

// driverConn is what the modernc driver's connection implements and database/sql uses.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is one driver connection with its prepared statements.
type cachingConn struct {
	driverConn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	driver.Stmt
	busy bool // its rows are open
}

func newCachingConn(c driver.Conn) driver.Conn {
	dc, ok := c.(driverConn)
	if !ok {
		return c // a driver without these interfaces: nothing to cache
	}
	return &cachingConn{driverConn: dc, stmts: make(map[string]*cachedStmt)}
}

// cacheable reports whether query is worth keeping: one statement (a script of several is
// re-parsed by the driver at every run anyway), and not a PRAGMA (run rarely, often with
// its value in the text).
func cacheable(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	return !strings.Contains(q, ";") && !strings.HasPrefix(strings.ToUpper(q), "PRAGMA")
}

// stmt returns the cached statement for query, preparing it on this connection the first
// time; transient is set when the statement is not the cache's (the caller closes it).
func (c *cachingConn) stmt(ctx context.Context, query string) (s *cachedStmt, transient bool, err error) {
	if s, ok := c.stmts[query]; ok && !s.busy {
		return s, false, nil
	}
	ds, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	s = &cachedStmt{Stmt: ds}
	if _, taken := c.stmts[query]; taken || len(c.stmts) >= maxCachedStatements || !cacheable(query) {
		return s, true, nil
	}
	c.stmts[query] = s
	return s, false, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, transient, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	if transient {
		if cerr := s.Close(); err == nil && cerr != nil {
			return nil, cerr
		}
	}
	return res, err
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, transient, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if transient {
			_ = s.Close()
		}
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s, transient: transient}, nil
}

// Close finalizes the connection's statements, then closes it.
func (c *cachingConn) Close() error {
	for q, s := range c.stmts {
		_ = s.Close()
		delete(c.stmts, q)
	}
	return c.driverConn.Close()
}

// cachedRows releases its statement when closed: the driver resets it there.
type cachedRows struct {
	driver.Rows
	s         *cachedStmt
	transient bool
	closed    bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.s.busy = false
	if r.transient {
		if cerr := r.s.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
