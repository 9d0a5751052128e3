package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/migration"
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

// TestShared: two Stores on one database, as two livegate nodes would have.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		dsn := testenv.PostgresDB(t)
		var ss []store.Store
		for range n {
			ss = append(ss, openT(t, dsn))
		}
		return ss
	})
}

var tenant = store.Tenant{AccountID: "acct", AppID: "app"}

func event(key string) *store.Event {
	return &store.Event{
		Tenant: tenant, Source: "hms", Type: "hls.started", DeliveryID: "d-" + key, DedupeKey: key,
		ReceivedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), Body: []byte("body of " + key),
	}
}

func appendOne(ctx context.Context, s store.Store, e *store.Event) error {
	return s.Update(ctx, func(w store.Writer) error { return w.AppendEvent(ctx, e) })
}

func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestOpenMigratesOnce: processes opening a new database at once migrate it once (the
// advisory lock), and a second Open applies nothing.
func TestOpenMigratesOnce(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent Open %d: %v", i, errs[i])
			continue
		}
		stores[i].Close()
	}
	openT(t, dsn) // again: nothing to apply
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := rawConn(t, dsn).Query(t.Context(), `SELECT version, COUNT(*) FROM schema_migrations GROUP BY version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v, c int64
		if err := rows.Scan(&v, &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d×%d", v, c))
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%d×1", m.Version))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations holds %v, want %v", got, want)
	}
}

// TestOpenRefusesNewerSchema: a database migrated by a newer binary is not written.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	openT(t, dsn)
	if _, err := rawConn(t, dsn).Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a schema newer than the binary")
	}
	if !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open: %v, want it to say the schema is newer", err)
	}
}

// TestOpenErrors: a bad URL or an unreachable server fails Open with a message naming the
// host, never the password.
func TestOpenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nobody listens there now
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct{ url, want string }{
		{fmt.Sprintf("postgres://livegate:s3cret-pw@127.0.0.1:%d/livegate", port), fmt.Sprintf("127.0.0.1:%d", port)},
		{"mysql://livegate:s3cret-pw@127.0.0.1/livegate", "postgres://"},
		{"postgres://livegate:s3cret-pw@127.0.0.1:notaport/livegate", "postgres"},
	} {
		s, err := Open(ctx, tc.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("Open(%s): %q, want a message with %q and without the password", tc.url, err, tc.want)
		}
	}
}

// TestSessionSettings: every connection has the timeouts, and the URL can set others;
// TimeoutsOff names those set to 0.
func TestSessionSettings(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	for _, tc := range []struct {
		url  string
		want map[string]string
		off  []string
	}{
		{dsn, map[string]string{"lock_timeout": "10s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "1min"}, nil},
		{dsn + "&lock_timeout=250ms", map[string]string{"lock_timeout": "250ms", "statement_timeout": "30s"}, nil},
		{dsn + "&lock_timeout=0&statement_timeout=0", map[string]string{"lock_timeout": "0", "statement_timeout": "0"}, []string{"lock_timeout", "statement_timeout"}},
	} {
		s := openT(t, tc.url)
		if off, err := s.TimeoutsOff(t.Context()); err != nil || !slices.Equal(off, tc.off) {
			t.Errorf("%s: TimeoutsOff = %v, %v; want %v", tc.url, off, err, tc.off)
		}
		for name, want := range tc.want {
			var got string
			if err := s.Pool().QueryRow(t.Context(), "SHOW "+name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: %s = %s, want %s", tc.url, name, got, want)
			}
		}
	}
}

// TestWritersTakeTurnsAcrossStores is the ordering proof at the store: while one process's
// transaction holds appended events uncommitted, another process's Update waits, neither
// its events nor the first one's are visible, and the sequences follow the commit order,
// without a hole when the first one rolls back.
func TestWritersTakeTurnsAcrossStores(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	a, b := openT(t, dsn), openT(t, dsn)
	ctx := t.Context()
	for round, abort := range []bool{true, false} {
		e1, e2 := event(fmt.Sprintf("a%d", round)), event(fmt.Sprintf("b%d", round))
		entered, gate := make(chan struct{}), make(chan struct{})
		doneA := make(chan error, 1)
		go func() {
			doneA <- a.Update(ctx, func(w store.Writer) error {
				if err := w.AppendEvent(ctx, e1); err != nil {
					return err
				}
				close(entered)
				<-gate
				if abort {
					return errors.New("abort")
				}
				return nil
			})
		}()
		<-entered
		doneB := make(chan error, 1)
		go func() { doneB <- appendOne(ctx, b, e2) }()
		select {
		case err := <-doneB:
			t.Fatalf("round %d: the other store's Update returned (%v) while the first held the write lock", round, err)
		case <-time.After(300 * time.Millisecond):
		}
		headBefore := uint64(0)
		if round == 1 {
			headBefore = 1 // round 0 stored b0 only
		}
		if err := b.View(ctx, func(r store.Reader) error {
			head, _, err := r.FeedBounds(ctx)
			if err != nil {
				return err
			}
			if head != headBefore {
				t.Errorf("round %d: head %d while both appends are uncommitted, want %d", round, head, headBefore)
			}
			evs, err := r.EventsAfter(ctx, tenant, headBefore, store.EventFilter{}, 10)
			if len(evs) != 0 {
				t.Errorf("round %d: uncommitted events visible: %v", round, evs)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		close(gate)
		errA, errB := <-doneA, <-doneB
		if errB != nil {
			t.Fatalf("round %d: second Update: %v", round, errB)
		}
		if abort {
			if errA == nil {
				t.Fatalf("round %d: the aborting Update succeeded", round)
			}
			if e2.Sequence != headBefore+1 {
				t.Errorf("round %d: after a rollback the next sequence is %d, want %d (no hole)", round, e2.Sequence, headBefore+1)
			}
			continue
		}
		if errA != nil {
			t.Fatalf("round %d: first Update: %v", round, errA)
		}
		if e1.Sequence != headBefore+1 || e2.Sequence != headBefore+2 {
			t.Errorf("round %d: sequences %d then %d, want %d then %d (commit order)", round, e1.Sequence, e2.Sequence, headBefore+1, headBefore+2)
		}
	}
}

// TestFeedHasNoSkipsAcrossStores: three stores (three processes) append concurrently, some
// Updates rolling back, while a reader follows the feed by "sequence > cursor", as a
// subscriber does. The reader gets every committed event, in order, and the sequences have
// no hole. (With a SEQUENCE column, readers skip events that commit after a later one.)
func TestFeedHasNoSkipsAcrossStores(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	stores := []*Store{openT(t, dsn), openT(t, dsn), openT(t, dsn)}
	ctx := t.Context()
	const writers, updates = 5, 12
	var (
		mu        sync.Mutex
		committed = map[uint64]string{}
		wg        sync.WaitGroup
	)
	for si, s := range stores {
		for wi := range writers {
			wg.Go(func() {
				for ui := range updates {
					key := fmt.Sprintf("s%d-w%d-u%d", si, wi, ui)
					evs := []*store.Event{event(key + "-1"), event(key + "-2")}
					fail := ui%4 == 3
					err := s.Update(ctx, func(w store.Writer) error {
						for _, e := range evs {
							if err := w.AppendEvent(ctx, e); err != nil {
								return err
							}
						}
						if fail {
							return errors.New("roll back")
						}
						return nil
					})
					if fail != (err != nil) {
						t.Errorf("Update %s: %v", key, err)
						continue
					}
					if err == nil {
						mu.Lock()
						for _, e := range evs {
							committed[e.Sequence] = e.DedupeKey
						}
						mu.Unlock()
					}
				}
			})
		}
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	var read []store.Event
	var cursor uint64
	follow := func() {
		for {
			var evs []store.Event
			if err := stores[0].View(ctx, func(r store.Reader) error {
				var err error
				evs, err = r.EventsAfter(ctx, tenant, cursor, store.EventFilter{}, 50)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				return
			}
			read = append(read, evs...)
			cursor = evs[len(evs)-1].Sequence
		}
	}
	for done := false; !done; {
		select {
		case <-writing:
			done = true
		case <-time.After(2 * time.Millisecond):
		}
		follow()
	}
	want := len(stores) * writers * (updates - updates/4) * 2
	if len(committed) != want {
		t.Fatalf("%d events committed, want %d", len(committed), want)
	}
	if len(read) != want {
		t.Errorf("the follower read %d events, want %d", len(read), want)
	}
	for i, e := range read {
		if e.Sequence != uint64(i+1) {
			t.Fatalf("event %d read has sequence %d, want %d (a skip or a hole)", i, e.Sequence, i+1)
		}
		if committed[e.Sequence] != e.DedupeKey {
			t.Fatalf("sequence %d read as %s, but the Update that committed it had %s", e.Sequence, e.DedupeKey, committed[e.Sequence])
		}
	}
}

// TestFailedWriteKeepsTransaction: a write that fails (a unique key taken) fails alone; the
// Update goes on, reads, writes and commits, and the failed append left no hole.
func TestFailedWriteKeepsTransaction(t *testing.T) {
	s := openT(t, testenv.PostgresDB(t))
	ctx := t.Context()
	e1, e2 := event("e1"), event("e2")
	err := s.Update(ctx, func(w store.Writer) error {
		if err := w.AppendEvent(ctx, e1); err != nil {
			return err
		}
		if err := w.AppendEvent(ctx, event("e1")); !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("duplicate append: %v, want ErrAlreadyExists", err)
		}
		prior, err := w.DeliveryEvents(ctx, tenant, "hms", "d-e1")
		if err != nil {
			return err
		}
		if len(prior) != 1 || prior[0].Sequence != e1.Sequence {
			return fmt.Errorf("DeliveryEvents after the failed append: %v", prior)
		}
		return w.AppendEvent(ctx, e2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Sequence != 1 || e2.Sequence != 2 {
		t.Errorf("sequences %d, %d; want 1, 2", e1.Sequence, e2.Sequence)
	}
}

// TestLockTimeoutIsUnavailable: a store that cannot get the write lock in time (another
// process holds it) fails the Update with STORAGE_UNAVAILABLE (HTTP 503) and stores
// nothing; it works again once the lock is free.
func TestLockTimeoutIsUnavailable(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	holder, impatient := openT(t, dsn), openT(t, dsn+"&lock_timeout=200ms")
	ctx := t.Context()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- holder.Update(ctx, func(store.Writer) error { close(entered); <-gate; return nil })
	}()
	<-entered
	err := appendOne(ctx, impatient, event("late"))
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable {
		t.Errorf("Update without the lock: %v, want STORAGE_UNAVAILABLE", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e := event("after")
	if err := appendOne(ctx, impatient, e); err != nil {
		t.Fatalf("Update once the lock is free: %v", err)
	}
	if e.Sequence != 1 {
		t.Errorf("sequence %d, want 1 (the failed Update took none)", e.Sequence)
	}
}

// TestDatabaseRestart: a PostgreSQL restart under an open Store costs at most failed
// Updates answered STORAGE_UNAVAILABLE (never another error, never a false success), and
// the Store works again without being reopened.
func TestDatabaseRestart(t *testing.T) {
	c, err := testenv.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	dsn, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s := openT(t, dsn)
	ctx := t.Context()
	if err := appendOne(ctx, s, event("before")); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	stored := []string{"before"}
	failed := 0
	for i := 0; ; i++ {
		e := event(fmt.Sprintf("after-%d", i))
		err := appendOne(ctx, s, e)
		if err == nil {
			stored = append(stored, e.DedupeKey)
			break
		}
		var ae *apierror.Error
		if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable {
			t.Fatalf("Update after a restart: %v, want success or STORAGE_UNAVAILABLE", err)
		}
		if failed++; failed > 20 {
			t.Fatalf("still failing after %d Updates: %v", failed, err)
		}
	}
	t.Logf("%d Updates failed with STORAGE_UNAVAILABLE after the restart", failed)
	if err := s.View(ctx, func(r store.Reader) error {
		evs, err := r.EventsAfter(ctx, tenant, 0, store.EventFilter{}, 100)
		if err != nil {
			return err
		}
		var got []string
		for i, e := range evs {
			got = append(got, e.DedupeKey)
			if e.Sequence != uint64(i+1) {
				t.Errorf("event %s has sequence %d, want %d", e.DedupeKey, e.Sequence, i+1)
			}
		}
		if !slices.Equal(got, stored) {
			t.Errorf("stored %v, want %v", got, stored)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestStalledWriterReleasesTheLock: a process that stalls inside a write transaction (here
// an Update that does not return; in life SIGSTOP, a frozen VM) holds every node's write
// lock. After writeIdleTimeout PostgreSQL ends its session: the other nodes' writes go
// through (within their lock_timeout, 10 s), and the stalled one fails, unacknowledged.
// Until 2026-11-29 the stalled session was kept for the connection's idle timeout, 60 s: every
// other node's writes failed 503 after 10 s, for a minute.
func TestStalledWriterReleasesTheLock(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	stalled, other := openT(t, dsn), openT(t, dsn)
	ctx := t.Context()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- stalled.Update(ctx, func(w store.Writer) error {
			if err := w.AppendEvent(ctx, event("stalled")); err != nil {
				return err
			}
			close(entered)
			<-gate
			return nil
		})
	}()
	<-entered
	start := time.Now()
	e := event("other")
	err := appendOne(ctx, other, e)
	waited := time.Since(start)
	close(gate)
	if err != nil {
		t.Fatalf("another node's write behind a stalled one: %v after %v, want it committed", err, waited.Round(time.Millisecond))
	}
	if err := <-done; err == nil {
		t.Error("the stalled write committed after its session was ended, want an error (not acknowledged)")
	}
	if e.Sequence != 1 {
		t.Errorf("the other node's event has sequence %d, want 1 (the stalled one's was never committed)", e.Sequence)
	}
	t.Logf("the other node's write waited %v", waited.Round(time.Millisecond))
}
