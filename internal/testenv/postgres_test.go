package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { RunMain(m) }

// TestStartPostgres: a cluster of the test's own takes connections on its DSN and is gone,
// directory and all, after Stop.
func TestStartPostgres(t *testing.T) {
	c, err := NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := c.CreateDatabase(t.Context())
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW server_version").Scan(&v); err != nil {
		t.Error(err)
	}
	t.Logf("PostgreSQL %s on port %d", v, c.Port())
	conn.Close(t.Context())
	if _, err := os.Stat(filepath.Join(c.Dir(), "sock")); err != nil {
		t.Errorf("unix socket directory: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("cluster directory after Stop: %v, want it removed", err)
	}
	if _, err := pgx.Connect(t.Context(), dsn); err == nil {
		t.Errorf("connected after Stop")
	}
}

// TestPostgresDB: databases on the shared cluster are distinct and empty.
func TestPostgresDB(t *testing.T) {
	a, b := PostgresDB(t), PostgresDB(t)
	if a == b {
		t.Fatalf("two databases with one DSN %s", a)
	}
	for _, dsn := range []string{a, b} {
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
			t.Error(err)
		}
		if n != 0 {
			t.Errorf("%s has %d tables, want none", dsn, n)
		}
		conn.Close(t.Context())
	}
}
