package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// TestProviderIDsBounded: the ids a delivery carries that livegate keys rows by or files
// events under (a 100ms delivery's id and its payload's correlation keys, an Amity stream's
// streamId) are at most 255 bytes, on both stores; a longer one is 400 naming the field,
// and stores nothing. Until 2026-11-29 a random id of a few KB was a 500 on PostgreSQL (its
// unique index refuses an entry over about 2.7 KB), and stored on SQLite. A 100ms id may not
// begin with "sha256:": livegate names a delivery without an id so, and such an id could be
// taken for that delivery's repeat.
func TestProviderIDsBounded(t *testing.T) {
	randomID := func(n int) string {
		b := make([]byte, (n+1)/2)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)[:n]
	}
	for _, onPostgres := range []bool{false, true} {
		t.Run(map[bool]string{false: "SQLite", true: "PostgreSQL"}[onPostgres], func(t *testing.T) {
			var tune func(*server.Config)
			if onPostgres {
				dsn := testenv.PostgresDB(t)
				tune = func(cfg *server.Config) { cfg.DatabaseURL = dsn }
			}
			s := startServer(t, t.TempDir(), tune)
			creds := s.createApp(accA, appA)
			type send struct {
				path    string
				headers map[string]string
				body    string
			}
			hms := func(id, data string) send {
				return send{hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret},
					fmt.Sprintf(`{"id":%q,"type":"session.open.success","timestamp":"2026-11-29T10:00:00Z","data":%s}`, id, data)}
			}
			amityStream := func(streamID string) send {
				body := fmt.Sprintf(`{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"s1"},{"streamId":%q}]}}`, streamID)
				return send{amityPath(accA, appA), map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), []byte(body))}, body}
			}
			long := randomID(3000)
			refused := []struct {
				name    string
				send    send
				message string
			}{
				{"100ms id", hms(long, `{"room_id":"r1","session_id":"s1"}`),
					"id: invalid value: longer than 255 bytes (3000)"},
				{"100ms id of 256 bytes", hms(randomID(256), `{"room_id":"r1","session_id":"s1"}`),
					"id: invalid value: longer than 255 bytes (256)"},
				{"100ms session_id", hms(randomID(36), fmt.Sprintf(`{"room_id":"r1","session_id":%q}`, long)),
					"data.session_id: invalid value: longer than 255 bytes (3000)"},
				{"100ms room_id", hms(randomID(36), fmt.Sprintf(`{"room_id":%q,"session_id":"s1"}`, long)),
					"data.room_id: invalid value: longer than 255 bytes (3000)"},
				{"100ms id that is livegate's name for a delivery without one", hms("sha256:"+randomID(64), `{"room_id":"r1","session_id":"s1"}`),
					`id: invalid value: must not begin with "sha256:", which livegate gives a delivery without an id`},
				{"Amity streamId", amityStream(long),
					"data.videoStreamings[1].streamId: invalid value: longer than 255 bytes (3000)"},
			}
			for _, c := range refused {
				resp := s.post(c.send.path, c.send.headers, []byte(c.send.body))
				code, message, reason := envelope(t, resp.Raw)
				if resp.Status != 400 || code != 400 || reason != "INVALID_ARGUMENT" || message != c.message {
					t.Errorf("%s: HTTP %d %s\nwant 400 INVALID_ARGUMENT %q", c.name, resp.Status, resp.Raw, c.message)
				}
			}
			if got := s.allEvents(creds.APIToken, accA, appA); len(got) != 0 {
				t.Errorf("refused deliveries stored %d events", len(got))
			}
			// At the bound, every id is taken, and a repeat is known as one.
			at := randomID(255)
			for i, want := range []bool{false, true} {
				d := hms(at, fmt.Sprintf(`{"room_id":%q,"session_id":%q}`, at, at))
				resp := s.post(d.path, d.headers, []byte(d.body))
				if dup, _ := resp.Body["duplicate"].(bool); resp.Status != 200 || dup != want {
					t.Errorf("100ms ids of 255 bytes, delivery %d: HTTP %d %s, want 200 with duplicate %v", i, resp.Status, resp.Raw, want)
				}
			}
			if d := amityStream(at); s.post(d.path, d.headers, []byte(d.body)).Status != 200 {
				t.Error("Amity streamId of 255 bytes: not 200")
			}
		})
	}
}
