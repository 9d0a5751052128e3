package server_test

import (
	"testing"

	"github.com/livegate/livegate/internal/testenv"
)

// One PostgreSQL cluster for the package's tests that need one (testenv.PostgresDB); it is
// started by the first of them only.
func TestMain(m *testing.M) { testenv.RunMain(m) }
