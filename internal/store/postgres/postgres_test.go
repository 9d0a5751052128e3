package postgres

import (
	"context"
	"testing"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/storetest"
	"github.com/livegate/livegate/internal/testenv"
)

// One PostgreSQL cluster for the package's tests; each test gets a database of its own.
func TestMain(m *testing.M) { testenv.RunMain(m) }

func openT(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, testenv.PostgresDB(t)) })
}
