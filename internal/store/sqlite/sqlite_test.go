package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/migration"
	"github.com/livegate/livegate/internal/store/storetest"
)

func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, t.TempDir()) })
}

// TestShared: two Stores on one database file, as two processes would have.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		dir := t.TempDir()
		var ss []store.Store
		for range n {
			ss = append(ss, openT(t, dir))
		}
		return ss
	})
}

var (
	tenant = store.Tenant{AccountID: "acct", AppID: "app"}
	t0     = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func createLivestream(ctx context.Context, s store.Store, id string) error {
	return s.Update(ctx, func(w store.Writer) error {
		return w.CreateLivestream(ctx, store.Livestream{
			Tenant: tenant, ID: id, Name: id, StreamKey: "key-" + id,
			Status: store.StatusIdle, Provider: "rtmp", CreatedAt: t0, UpdatedAt: t0,
		})
	})
}

func countLivestreams(t *testing.T, s store.Store) int {
	t.Helper()
	var n int
	err := s.View(t.Context(), func(r store.Reader) error {
		var err error
		_, n, err = r.ListLivestreams(t.Context(), tenant, store.LivestreamFilter{Limit: 1})
		return err
	})
	if err != nil {
		t.Fatalf("ListLivestreams: %v", err)
	}
	return n
}

func TestOpenCreatesDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "dir with space?#%")
	s := openT(t, dir)
	want := filepath.Join(dir, FileName)
	if s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if err := createLivestream(t.Context(), s, "ls-1"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailsOnAFileAsDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), f); err == nil {
		s.Close()
		t.Fatal("Open on a regular file as the directory: no error")
	}
}

func TestSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := createLivestream(ctx, s, fmt.Sprintf("ls-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing the last connection checkpoints the WAL into the database file.
	if _, err := os.Stat(filepath.Join(dir, FileName+"-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL file after Close: %v, want it removed by the final checkpoint", err)
	}

	s2 := openT(t, dir)
	if n := countLivestreams(t, s2); n != 3 {
		t.Errorf("%d livestreams after re-open, want 3", n)
	}
	err = s2.View(ctx, func(r store.Reader) error {
		l, err := r.Livestream(ctx, tenant, "ls-1")
		if err != nil {
			return err
		}
		if !l.CreatedAt.Equal(t0) || l.StreamKey != "key-ls-1" {
			t.Errorf("re-opened livestream = %+v", l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations = %+v, want the first to be version 1", ms)
	}
	applied := func(s *Store) []string {
		rows, err := s.w.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v int64
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%04d_%s", v, name))
		}
		return out
	}
	var want []string
	for _, m := range ms {
		want = append(want, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}

	s1, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := createLivestream(ctx, s1, "ls-1"); err != nil {
		t.Fatal(err)
	}
	got1 := applied(s1)
	s1.Close()
	// Re-open twice: nothing applied again (a re-run of CREATE TABLE would fail), data kept.
	for i := range 2 {
		s := openT(t, dir)
		if got := applied(s); strings.Join(got, ",") != strings.Join(want, ",") || strings.Join(got1, ",") != strings.Join(want, ",") {
			t.Errorf("open %d: schema_migrations = %v (first open %v), want %v", i+2, got, got1, want)
		}
		if n := countLivestreams(t, s); n != 1 {
			t.Errorf("open %d: %d livestreams, want 1", i+2, n)
		}
	}

	// Two processes opening a fresh database at once (server and CLI): both succeed and the
	// migrations are applied once.
	fresh := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(ctx, fresh)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Open %d: %v", i, err)
		}
	}
	if got := applied(openT(t, fresh)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after concurrent opens: schema_migrations = %v, want %v", got, want)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openT(t, dir)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, dir)
	if err == nil {
		s2.Close()
		t.Fatal("Open of a database with a newer schema: no error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestConnectionSettings(t *testing.T) {
	ctx := t.Context()
	s := openT(t, t.TempDir())
	for _, tc := range []struct {
		reader bool
		pragma string
		want   string
	}{
		{false, "journal_mode", "wal"},
		{false, "synchronous", "2"},
		{false, "foreign_keys", "1"},
		{false, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{false, "mmap_size", "0"},
		{true, "journal_mode", "wal"},
		{true, "mmap_size", fmt.Sprint(readerMmapSize)},
		{true, "foreign_keys", "1"},
		{true, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
	} {
		db, name := s.w, "writer"
		if tc.reader {
			db, name = s.r, "reader"
		}
		var got string
		if err := db.QueryRowContext(ctx, `PRAGMA `+tc.pragma).Scan(&got); err != nil {
			t.Errorf("%s: PRAGMA %s: %v", name, tc.pragma, err)
		} else if strings.ToLower(got) != tc.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", name, tc.pragma, got, tc.want)
		}
	}
	// The read pool cannot write, even through a Writer it was not meant to hand out.
	err := s.View(ctx, func(r store.Reader) error {
		return r.(store.Writer).CreateLivestream(ctx, store.Livestream{Tenant: tenant, ID: "x", StreamKey: "x", CreatedAt: t0, UpdatedAt: t0})
	})
	if err == nil {
		t.Error("a write inside View succeeded")
	}
}

// TestSecondOpenWrites is the CLI writing (`livegate apps create`) while the server has the
// same database open and busy: both processes' writes land, neither fails with SQLITE_BUSY,
// and each sees the other's commits.
func TestSecondOpenWrites(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	server := openT(t, dir)
	cli := openT(t, dir)

	// The server holds a read transaction open across the CLI's write (WAL: no conflict).
	readHeld := make(chan struct{})
	release := make(chan struct{})
	viewDone := make(chan error, 1)
	go func() {
		viewDone <- server.View(ctx, func(r store.Reader) error {
			if _, _, err := r.ListLivestreams(ctx, tenant, store.LivestreamFilter{}); err != nil {
				return err
			}
			close(readHeld)
			<-release
			return nil
		})
	}()
	<-readHeld
	err := cli.Update(ctx, func(w store.Writer) error {
		return w.CreateApp(ctx, store.App{Tenant: tenant, TokenID: "tok", TokenHash: []byte("h"), WebhookSecret: "s", CreatedAt: t0})
	})
	close(release)
	if err != nil {
		t.Fatalf("CLI write while the server reads: %v", err)
	}
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
	err = server.View(ctx, func(r store.Reader) error {
		_, err := r.AppByTokenID(ctx, "tok")
		return err
	})
	if err != nil {
		t.Fatalf("server does not see the CLI's app: %v", err)
	}

	// Both write at once: the write lock is taken at BEGIN IMMEDIATE and waited for on
	// busy_timeout, so every transaction commits.
	const each = 20
	var wg sync.WaitGroup
	var failed atomic.Int32
	for p, s := range []*Store{server, cli} {
		for g := range 2 {
			wg.Go(func() {
				for i := range each / 2 {
					if err := createLivestream(ctx, s, fmt.Sprintf("ls-%d-%d-%d", p, g, i)); err != nil {
						t.Errorf("process %d: %v", p, err)
						failed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if failed.Load() == 0 {
		for name, s := range map[string]*Store{"server": server, "cli": cli} {
			if n := countLivestreams(t, s); n != 2*each {
				t.Errorf("%s sees %d livestreams, want %d", name, n, 2*each)
			}
		}
	}
}

func TestUpdateContextCanceled(t *testing.T) {
	s := openT(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := createLivestream(ctx, s, "ls-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a canceled context: %v, want context.Canceled", err)
	}
	if err := createLivestream(t.Context(), s, "ls-1"); err != nil {
		t.Errorf("Update after a canceled one: %v", err)
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := openT(b, b.TempDir())
	ctx := context.Background()
	n := 0
	for b.Loop() {
		if err := createLivestream(ctx, s, fmt.Sprintf("ls-%d", n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkView(b *testing.B) {
	s := openT(b, b.TempDir())
	ctx := context.Background()
	const rows = 1000
	err := s.Update(ctx, func(w store.Writer) error {
		for i := range rows {
			id := fmt.Sprintf("ls-%d", i)
			if err := w.CreateLivestream(ctx, store.Livestream{
				Tenant: tenant, ID: id, Name: id, StreamKey: "key-" + id,
				Status: store.StatusIdle, Provider: "rtmp", CreatedAt: t0, UpdatedAt: t0,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("key-ls-%d", n.Add(1)%rows)
			err := s.View(ctx, func(r store.Reader) error {
				_, err := r.LivestreamByStreamKey(ctx, key)
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "views/s")
}

// TestAppsVersionReadWriteRead: a group commit's transaction reads AppsVersion once for all
// its Updates, and a write to apps in it forgets what was read: read, rotate, read again
// gives another version.
func TestAppsVersionReadWriteRead(t *testing.T) {
	ctx := t.Context()
	s := openT(t, t.TempDir())
	app := store.App{Tenant: tenant, TokenID: "tok", TokenHash: []byte{1}, WebhookSecret: "whsec-1", CreatedAt: time.Now()}
	if err := s.Update(ctx, func(w store.Writer) error { return w.CreateApp(ctx, app) }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(w store.Writer) error {
		before, err := w.AppsVersion(ctx)
		if err != nil {
			return err
		}
		app.WebhookSecret = "whsec-2"
		if err := w.UpdateAppCredentials(ctx, app); err != nil {
			return err
		}
		after, err := w.AppsVersion(ctx)
		if err != nil {
			return err
		}
		if after == before {
			t.Errorf("AppsVersion %d before and after a rotation in one transaction", before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestViewLeavesCallersStack: goroutines that read the store and then wait, a few frames
// down (as a Subscribe handler under its interceptors does for the life of its stream), wait
// on 8 KB stacks: SQLite's deep calls grew another goroutine's. Read on the caller's own
// stack, each kept 16 KB.
func TestViewLeavesCallersStack(t *testing.T) {
	ctx := t.Context()
	s := openT(t, t.TempDir())
	const n = 500
	// AppByTokenID is the read every authenticated call makes (its token's app).
	read := func() error {
		return s.View(ctx, func(r store.Reader) error {
			_, err := r.AppByTokenID(ctx, "no-such-token")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		})
	}
	if err := read(); err != nil { // the pool's connections and statements, made once
		t.Fatal(err)
	}
	stackInuse := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	before := stackInuse()
	release := make(chan struct{})
	var ready, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			_ = underFrames(3<<10, func() error {
				errs <- read()
				ready.Done()
				<-release
				return nil
			})
		}()
	}
	ready.Wait()
	per := (float64(stackInuse()) - float64(before)) / n
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// 8 KB stacks measure 9.5 KB a goroutine here (11.6 KB with -race), 16 KB ones 17-18 KB.
	if per > 14<<10 {
		t.Errorf("a goroutine waiting after a read holds %.0f bytes of stack, want under 14 KB (8 KB stacks, not 16 KB)", per)
	}
}

// TestViewPanics: a panic in View's fn goes on in View's caller, with the same value.
func TestViewPanics(t *testing.T) {
	s := openT(t, t.TempDir())
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the panic of fn (boom)", p)
		}
	}()
	_ = s.View(t.Context(), func(store.Reader) error { panic("boom") })
	t.Error("View returned after fn panicked")
}

// underFrames calls fn under about depth bytes of stack frames.
//
//go:noinline
func underFrames(depth int, fn func() error) error {
	var pad [512]byte
	pad[depth%len(pad)] = 1
	if depth <= len(pad) {
		return fn()
	}
	err := underFrames(depth-len(pad), fn)
	if pad[depth%len(pad)] != 1 { // keeps pad, and its frame, on the stack
		panic("underFrames")
	}
	return err
}

// TestViewGoexit: fn calling runtime.Goexit (t.FailNow) ends View's caller too, not only the
// goroutine fn ran on.
func TestViewGoexit(t *testing.T) {
	s := openT(t, t.TempDir())
	after := make(chan bool, 1)
	go func() {
		defer close(after)
		_ = s.View(t.Context(), func(store.Reader) error { runtime.Goexit(); return nil })
		after <- true
	}()
	if <-after {
		t.Error("View returned after fn called runtime.Goexit")
	}
}
