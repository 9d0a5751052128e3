package postgres

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/storetest"
	"github.com/livegate/livegate/internal/testenv"
)

// ignoreSettings is the PgBouncer setting the README asks for: the session settings every
// connection sends (defaultParams), which PgBouncer otherwise refuses at login.
const ignoreSettings = "ignore_startup_parameters = idle_in_transaction_session_timeout,lock_timeout,statement_timeout"

// TestThroughPgBouncer: the store through a real PgBouncer in session mode, set up as the
// README says: without ignore_startup_parameters, Open fails saying what to set; with it,
// and the timeouts set on the database instead, the whole store conformance suite passes,
// the timeouts are in force, a lease still lets one node of two run a job, and a node
// follows another's commits with LISTEN.
func TestThroughPgBouncer(t *testing.T) {
	c := testenv.SharedCluster(t)

	t.Run("session settings refused", func(t *testing.T) {
		pgb := c.StartPgBouncer(t, "session")
		s, err := Open(t.Context(), pgb.Via(testenv.PostgresDB(t)))
		if err == nil {
			s.Close()
			t.Fatal("Open through PgBouncer without ignore_startup_parameters succeeded")
		}
		for _, want := range []string{"unsupported startup parameter", "ignore_startup_parameters",
			strings.TrimPrefix(ignoreSettings, "ignore_startup_parameters = "), "ALTER DATABASE"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open: %q, want it to say %q", err, want)
			}
		}
	})

	pgb := c.StartPgBouncer(t, "session", ignoreSettings)
	// newDatabase makes a database with the README's timeouts set on it, and returns its URL
	// through PgBouncer.
	newDatabase := func(t *testing.T) (direct, via string) {
		dsn := testenv.PostgresDB(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
		conn := rawConn(t, dsn)
		for _, set := range []string{"lock_timeout = '10s'", "statement_timeout = '30s'", "idle_in_transaction_session_timeout = '60s'"} {
			if _, err := conn.Exec(t.Context(), "ALTER DATABASE "+db+" SET "+set); err != nil {
				t.Fatal(err)
			}
		}
		return dsn, pgb.Via(dsn)
	}

	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			_, via := newDatabase(t)
			return openT(t, via)
		})
	})

	t.Run("timeouts dropped", func(t *testing.T) {
		// PgBouncer drops them, and the database does not set them: TimeoutsOff says so.
		s := openT(t, pgb.Via(testenv.PostgresDB(t)))
		want := []string{"idle_in_transaction_session_timeout", "lock_timeout", "statement_timeout"}
		if off, err := s.TimeoutsOff(t.Context()); err != nil || !slices.Equal(off, want) {
			t.Errorf("TimeoutsOff = %v, %v; want %v", off, err, want)
		}
	})

	t.Run("timeouts in force", func(t *testing.T) {
		_, via := newDatabase(t)
		s := openT(t, via)
		if off, err := s.TimeoutsOff(t.Context()); err != nil || len(off) != 0 {
			t.Errorf("TimeoutsOff = %v, %v; want none", off, err)
		}
		for name, want := range map[string]string{"lock_timeout": "10s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "1min"} {
			var got string
			if err := s.Pool().QueryRow(t.Context(), "SHOW "+name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %s through PgBouncer, want %s", name, got, want)
			}
		}
	})

	t.Run("a job runs on one node", func(t *testing.T) {
		_, via := newDatabase(t)
		var j jobRecorder
		nodes := [2]*Store{openT(t, via), openT(t, via)}
		runJobs(t, &j, nodes)
		oneNodeThenTakeoverOnClose(t, &j, nodes)
	})

	t.Run("follow the log", func(t *testing.T) {
		// Node b follows what node a appends, both through PgBouncer; in session mode its
		// LISTEN connection works too.
		direct, via := newDatabase(t)
		a, b := openT(t, via), openT(t, via)
		f := startFollowing(t, b, 0)
		testenv.WaitFor(t, "node b's LISTEN through PgBouncer", func() bool {
			var n int
			err := rawConn(t, direct).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE query = $1`, "LISTEN "+FeedChannel).Scan(&n)
			return err == nil && n > 0
		})
		var want []uint64
		for _, key := range []string{"a", "b", "c"} {
			e := event(key)
			if err := appendOne(t.Context(), a, e); err != nil {
				t.Fatal(err)
			}
			want = append(want, e.Sequence)
		}
		waitFollowed(t, f, want[len(want)-1], testenv.Deadline)
		if got := f.got(); !slices.Equal(got, want) {
			t.Errorf("node b followed %v, want %v", got, want)
		}
	})
}
