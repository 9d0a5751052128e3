package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/livegate/livegate/internal/server"
)

// sizeCapped is the SQLite store's size cap, which makes SQLITE_FULL for real.
type sizeCapped interface {
	PageCount(ctx context.Context) (int64, error)
	SetMaxPageCount(ctx context.Context, n int64) (int64, error)
}

// TestFullDatabaseOverHTTP: on a full database (a real SQLITE_FULL: the database may not
// grow past its size), writes over HTTP get 503 STORAGE_UNAVAILABLE saying the database is
// full, reads still work, and the log gets one ERROR line for the lot, not one per request.
func TestFullDatabaseOverHTTP(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	db, ok := server.StoreOf(s.srv).(sizeCapped)
	if !ok {
		t.Fatalf("store %T cannot be capped", server.StoreOf(s.srv))
	}
	ctx := context.Background()
	n, err := db.PageCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetMaxPageCount(ctx, n); err != nil {
		t.Fatal(err)
	}

	const requests = 20
	pad := strings.Repeat("p", 20_000) // each delivery needs new pages
	for i := range requests {
		body := []byte(fmt.Sprintf(`{"id":"%s","type":"custom.unknown","data":{"pad":"%s"}}`, uuid.NewString(), pad))
		resp := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, body)
		msg := resp.errorMessage(t)
		if resp.Status != 503 || resp.Body["errors"].([]any)[0].(map[string]any)["reason"] != "STORAGE_UNAVAILABLE" || !strings.Contains(msg, "the database is full") {
			t.Fatalf("delivery %d on a full database: HTTP %d %s", i, resp.Status, resp.Raw)
		}
	}
	resp := s.rest("POST", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", creds.APIToken, map[string]any{"name": strings.Repeat("n", 128)})
	for i := 0; resp.Status/100 == 2 && i < 500; i++ { // a livestream row is small: fill the free room first
		resp = s.rest("POST", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", creds.APIToken, map[string]any{"name": strings.Repeat("n", 128)})
	}
	if resp.Status != 503 || !strings.Contains(resp.errorMessage(t), "the database is full") {
		t.Fatalf("create livestream on a full database: HTTP %d %s", resp.Status, resp.Raw)
	}
	if r := s.rest("GET", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", creds.APIToken, nil); r.Status != 200 {
		t.Fatalf("a read on a full database: HTTP %d %s", r.Status, r.Raw)
	}

	time.Sleep(100 * time.Millisecond) // the last calls' log lines
	errors := s.log.Lines(`"level":"ERROR"`)
	if len(errors) != 1 || !strings.Contains(errors[0], "storage unavailable") || !strings.Contains(errors[0], `"kind":"full"`) {
		t.Fatalf("%d ERROR lines for %d failed writes, want 1 naming the cause:\n%s", len(errors), requests+1, strings.Join(errors, "\n"))
	}
}
