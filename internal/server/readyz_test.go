package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// readyz GETs http://admin/readyz and returns the status and body.
func readyz(t testing.TB, admin string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReadyz polls /readyz until it answers code, and returns the body.
func waitReadyz(t testing.TB, admin string, code int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := readyz(t, admin)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q, want %d within 30s", got, body, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyzPostgres: on PostgreSQL, /readyz answers 200 while the database answers; when the
// PostgreSQL server is stopped it answers 503 naming the store, and 200 again once the
// server is back, without livegate being restarted. /livez is 200 throughout. While
// livegate shuts down, /readyz is 503 "shutting down".
func TestReadyzPostgres(t *testing.T) {
	cluster, err := testenv.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	dsn, err := cluster.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.DatabaseURL = dsn
		c.AdminAddr = "127.0.0.1:0"
	})
	admin := s.srv.AdminAddr()
	if code, body := readyz(t, admin); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz with PostgreSQL up: %d %q, want 200 ok", code, body)
	}

	if err := cluster.Halt(); err != nil {
		t.Fatal(err)
	}
	body := waitReadyz(t, admin, http.StatusServiceUnavailable)
	if !strings.HasPrefix(body, "not ready: store unavailable: ") {
		t.Errorf("/readyz with PostgreSQL down: %q, want the store named as the reason", body)
	}
	if strings.Contains(body, "password") {
		t.Errorf("/readyz body shows a password: %q", body)
	}
	if v := scrapeMetrics(t, admin).get(t, "livegate_ready"); v != 0 {
		t.Errorf("livegate_ready with PostgreSQL down: %v, want 0", v)
	}
	if code, _ := livez(t, admin); code != http.StatusOK {
		t.Errorf("/livez with PostgreSQL down: %d, want 200", code)
	}

	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	if body := waitReadyz(t, admin, http.StatusOK); body != "ok\n" {
		t.Errorf("/readyz after PostgreSQL came back: %q", body)
	}
	// The store works again through the same server: a call that reads it succeeds.
	creds := s.createApp("acc-ready", "app-ready")
	if r := s.rest(http.MethodGet, "/accounts/acc-ready/realtime/kit/app-ready/livestreams", creds.APIToken, nil); r.Status != http.StatusOK {
		t.Errorf("list after PostgreSQL came back: %d %s", r.Status, r.Raw)
	}
}

func livez(t testing.TB, admin string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/livez")
	if err != nil {
		t.Fatalf("GET /livez: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestTimeoutsOffWarned: a server on PostgreSQL whose session timeouts are off (here set to 0
// in the URL; behind PgBouncer, dropped by it) says so once at start, naming them; with
// livegate's defaults it says nothing of them.
func TestTimeoutsOffWarned(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	for _, tc := range []struct {
		url string
		off string
	}{
		{dsn, ""},
		{dsn + "&lock_timeout=0&idle_in_transaction_session_timeout=0", `"off":["idle_in_transaction_session_timeout","lock_timeout"]`},
	} {
		s := startServer(t, t.TempDir(), func(c *server.Config) { c.DatabaseURL = tc.url })
		log := s.log.String()
		warned := strings.Count(log, "PostgreSQL session timeouts are off")
		switch {
		case tc.off == "" && warned != 0:
			t.Errorf("%s: warned of timeouts off:\n%s", tc.url, log)
		case tc.off != "" && (warned != 1 || !strings.Contains(log, tc.off)):
			t.Errorf("%s: want one warning with %s; log:\n%s", tc.url, tc.off, log)
		}
		s.stop()
	}
}

// TestAdminHidesCommandLine: the admin listener, unauthenticated and often open to a metrics
// scraper, serves the profiles but not the process's command line, which may hold a
// --database-url password (this stop's observability audit read one there).
func TestAdminHidesCommandLine(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.AdminAddr = "127.0.0.1:0" })
	admin := s.srv.AdminAddr()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/debug/pprof/cmdline")
	if code != http.StatusNotFound || strings.Contains(body, os.Args[0]) {
		t.Errorf("/debug/pprof/cmdline: %d %q, want 404 without the command line", code, body)
	}
	if code, _ := get("/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine: %d, want 200 (the profiles are served)", code)
	}
}

// TestOneServerPerDataDir: a second server on a SQLite data dir in use is refused, naming
// the holder; on SQLite a server learns of its own commits only, so two would each miss the
// other's events in their live feeds (this stop's storage audit: 391 holes in one NDJSON
// stream, both /readyz ok). Once the first has stopped, the data dir is free again.
func TestOneServerPerDataDir(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir)
	_, err := server.New(t.Context(), server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", DataDir: dir}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "in use by another livegate serve (process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second server on the data dir: %v, want it refused naming this process", err)
	}
	first.stop()
	second := startServer(t, dir) // fails the test if refused
	second.createApp("acc-second", "app-second")
}

// TestDataDirRemovedWhileServing: the data dir removed under a running server (rm -rf):
// deliveries are answered 503 STORAGE_UNAVAILABLE naming it, not 200 for writes to a file
// nothing will read again, and /readyz says so. (The storage audit: 571 deliveries answered
// 200 after the rm, all lost, /readyz ok.)
func TestDataDirRemovedWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir, func(c *server.Config) { c.AdminAddr = "127.0.0.1:0" })
	creds := s.createApp("acc-rm", "app-rm")
	post := func() error {
		_, _, err := testenv.PostHMS(http.DefaultClient, s.base, "acc-rm", "app-rm", creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-rm"))
		return err
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the committer looks at the file at most once a second
	if err := post(); err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "was removed") {
		t.Errorf("a delivery with the data dir removed: %v, want 503 saying the database file was removed", err)
	}
	if code, body := readyz(t, s.srv.AdminAddr()); code != http.StatusServiceUnavailable || !strings.Contains(body, "was removed") {
		t.Errorf("/readyz with the data dir removed: %d %q, want 503 saying so", code, body)
	}
}

// TestClockOffsetFromTheDatabase: PostgreSQL's clock runs 3 minutes ahead of this node's
// (a real server under libfaketime). The node starts (its RTMP callback secret exists, and is
// only read), /readyz answers 503 naming the offset, a delivery is refused 503 naming it,
// and reads go on; a node allowed 10 minutes takes the delivery. Until 2026-11-29 such a
// node did not start at all: reading the callback secret went through a write transaction
// (this stop's review of its own clock check).
func TestClockOffsetFromTheDatabase(t *testing.T) {
	c, err := testenv.NewClusterWithClock(3 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	ctx := t.Context()
	dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What an earlier node whose clock was right left behind: an app and the callback secret.
	admin, err := server.OpenStore(ctx, server.StoreConfig{DatabaseURL: dsn, MaxClockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := auth.CreateApp(ctx, admin, store.Tenant{AccountID: "acc-clock", AppID: "app-clock"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtmp.CallbackSecret(ctx, admin); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	late := startServer(t, t.TempDir(), func(c *server.Config) { c.DatabaseURL, c.AdminAddr = dsn, "127.0.0.1:0" })
	if code, body := readyz(t, late.srv.AdminAddr()); code != http.StatusServiceUnavailable || !strings.Contains(body, "behind the database's") {
		t.Errorf("/readyz on the node 3 minutes behind: %d %q, want 503 naming the offset", code, body)
	}
	deliver := func(s *testServer) error {
		_, _, err := testenv.PostHMS(http.DefaultClient, s.base, "acc-clock", "app-clock", creds.WebhookSecret, testenv.HMSDelivery("peer.join.success", "room-clock"))
		return err
	}
	if err := deliver(late); err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "behind the database's") {
		t.Errorf("a delivery to the node 3 minutes behind: %v, want 503 naming the offset", err)
	}
	if r := late.rest(http.MethodGet, "/accounts/acc-clock/realtime/kit/app-clock/livestreams", creds.APIToken, nil); r.Status != http.StatusOK {
		t.Errorf("a read on the node 3 minutes behind: %d %s, want 200", r.Status, r.Raw)
	}

	lenient := startServer(t, t.TempDir(), func(c *server.Config) { c.DatabaseURL, c.MaxClockOffset = dsn, 10*time.Minute })
	if err := deliver(lenient); err != nil {
		t.Errorf("a delivery to a node allowed 10 minutes: %v", err)
	}
}
