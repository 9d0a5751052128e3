package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// TestWebhookSecretChangesApplyAtOnce: the webhook services cache apps, and a change to an
// app still applies to the very next delivery, whoever made it: the admin API of the server
// itself, or another process on the same database (what `livegate apps rotate-webhook-secret`
// and `livegate apps delete` do beside a running server: their own store, auth.Manager), or
// another node of a PostgreSQL installation.
// Each step first has a delivery accepted with the secret about to change, so that the
// server holds the app as it was.
func TestWebhookSecretChangesApplyAtOnce(t *testing.T) {
	ctx := context.Background()
	hmsBody := func(id string) []byte {
		return withID(t, readFixture(t, "../../testdata/hms/peer.join.success.json"), id)
	}
	amityBody := readFixture(t, "../../testdata/amity/video-streaming.didStop.json")

	for _, tc := range []struct{ name, via string }{
		{"admin API", "admin API"},
		{"another process", "another process"},
		{"another node of PostgreSQL", "another process"},
	} {
		via := tc.via
		t.Run(tc.name, func(t *testing.T) {
			var onPostgres func(*server.Config)
			if tc.name == "another node of PostgreSQL" {
				dsn := testenv.PostgresDB(t)
				onPostgres = func(cfg *server.Config) { cfg.DatabaseURL = dsn }
			}
			s := startServer(t, t.TempDir(), withAdminAPI, onPostgres)
			tenant := store.Tenant{AccountID: "acme", AppID: "web"}
			cli := auth.Manager{Store: s.db(), Actor: "cli:test"}
			rotate := func(grace time.Duration) string {
				t.Helper()
				if via == "admin API" {
					r := s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-webhook-secret", operatorToken, map[string]any{"grace": fmt.Sprintf("%ds", int(grace.Seconds()))})
					secret, _ := r.Body["webhook_secret"].(string)
					if r.Status != 200 || secret == "" {
						t.Fatalf("rotate-webhook-secret: HTTP %d %s", r.Status, r.Raw)
					}
					return secret
				}
				rot, err := cli.RotateWebhookSecret(ctx, tenant, grace)
				if err != nil {
					t.Fatal(err)
				}
				return rot.WebhookSecret
			}
			n := 0
			deliver := func(secret string, want int) {
				t.Helper()
				n++
				if got := s.post(hmsPath("acme", "web"), map[string]string{"X-Webhook-Secret": secret}, hmsBody(fmt.Sprintf("d-%d", n))); got.Status != want {
					t.Errorf("100ms delivery %d: HTTP %d %s, want %d", n, got.Status, got.Raw, want)
				}
				if got := s.post(amityPath("acme", "web"), map[string]string{amity.SignatureHeader: amity.Sign([]byte(secret), amityBody)}, amityBody); got.Status != want {
					t.Errorf("Amity delivery (with 100ms delivery %d): HTTP %d %s, want %d", n, got.Status, got.Raw, want)
				}
			}

			var first string
			if via == "admin API" {
				r := s.rest("POST", "/admin/v1/apps", operatorToken, map[string]any{"account_id": "acme", "app_id": "web"})
				first, _ = r.Body["webhook_secret"].(string)
				if r.Status != 201 {
					t.Fatalf("POST /admin/v1/apps: HTTP %d %s", r.Status, r.Raw)
				}
			} else {
				creds, err := cli.Create(ctx, tenant)
				if err != nil {
					t.Fatal(err)
				}
				first = creds.WebhookSecret
			}
			deliver(first, 200)

			// With a grace: both secrets.
			second := rotate(time.Hour)
			deliver(first, 200)
			deliver(second, 200)

			// Without: the one just replaced is refused at once, and the one before it too
			// (its grace ends with the next rotation).
			deliver(second, 200)
			third := rotate(0)
			deliver(second, 401)
			deliver(first, 401)
			deliver(third, 200)

			// Deleted: its secret is refused at once.
			deliver(third, 200)
			if via == "admin API" {
				if r := s.rest("DELETE", "/admin/v1/accounts/acme/apps/web", operatorToken, nil); r.Status != 200 {
					t.Fatalf("DELETE: HTTP %d %s", r.Status, r.Raw)
				}
			} else if err := cli.Delete(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			deliver(third, 401)
		})
	}
}
