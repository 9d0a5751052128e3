package server_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// TestSubscriptionEndsWhenTokenRevoked: a subscription checks its token again while it
// follows the feed. A rotation whose grace period still covers the token leaves it open; a
// rotation that ends the token's validity, or deleting the app, ends it with
// UNAUTHENTICATED (gRPC), a code 16 error line (NDJSON) and a 401 error event (SSE) within
// a few progress intervals, instead of streaming on a revoked credential.
func TestSubscriptionEndsWhenTokenRevoked(t *testing.T) {
	s := startServer(t, t.TempDir(), withAdminAPI, func(c *server.Config) { c.Feed.ProgressEvery = 50 * time.Millisecond })
	r := s.rest("POST", "/admin/v1/apps", operatorToken, map[string]any{"account_id": "acme", "app_id": "web"})
	if r.Status != 201 {
		t.Fatalf("POST /admin/v1/apps: HTTP %d %s", r.Status, r.Raw)
	}
	first, _ := r.Body["api_token"].(string)
	secret, _ := r.Body["webhook_secret"].(string)
	f := &rfApp{s: s, acc: "acme", app: "web", token: first, secret: secret}
	client := livegatev1.NewEventServiceClient(s.conn)
	subscribe := func(token string) livegatev1.EventService_SubscribeClient {
		t.Helper()
		st, err := client.Subscribe(withToken(token), &livegatev1.SubscribeRequest{AccountId: "acme", AppId: "web", OnlyNew: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Header(); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		return st
	}
	// nextEvent returns the next event's sequence, skipping progress, or the stream's error.
	nextEvent := func(st livegatev1.EventService_SubscribeClient) (uint64, error) {
		for {
			resp, err := st.Recv()
			if err != nil {
				return 0, err
			}
			if ev := resp.GetEvent(); ev != nil {
				return ev.GetSequence(), nil
			}
		}
	}
	wantUnauthenticated := func(what string, st livegatev1.EventService_SubscribeClient) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := nextEvent(st); err != nil {
					done <- err
					return
				}
			}
		}()
		select {
		case err := <-done:
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "no longer authenticates") {
				t.Fatalf("%s: the stream ended with %v, want UNAUTHENTICATED saying the token no longer authenticates", what, err)
			}
		case <-time.After(rfWait):
			t.Fatalf("%s: the stream is still open %v later", what, rfWait)
		}
	}

	// Open with the first token over gRPC, NDJSON and SSE (with access_token, as a browser
	// does); all receive events.
	grpcFirst := subscribe(first)
	lines := ndjsonLines(t, f.open(t, f.path("/events:stream?only_new=true"), rfBearer(first)).Body)
	sse := sseOK(t, f.open(t, f.path("/events/sse?only_new=true&access_token="+first), nil))
	seq := f.post(t, "peer.join.success", "room-1")
	wantSSEEvent(t, sse, seq, "peer.join.success")
	if got, err := nextEvent(grpcFirst); err != nil || got != seq {
		t.Fatalf("gRPC subscriber got %d, %v; want event %d", got, err, seq)
	}
	if l := nextNDJSON(t, lines); l.msg.GetEvent().GetSequence() != seq {
		t.Fatalf("NDJSON subscriber got %s, want event %d", l.raw, seq)
	}

	// A rotation with an hour's grace: the first token still authenticates, and the
	// subscriptions outlive many rechecks.
	r = s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-token", operatorToken, map[string]any{"grace": "3600s"})
	second, _ := r.Body["api_token"].(string)
	if r.Status != 200 || second == "" {
		t.Fatalf("rotate-token: HTTP %d %s", r.Status, r.Raw)
	}
	time.Sleep(300 * time.Millisecond) // about 6 rechecks
	seq = f.post(t, "peer.join.success", "room-1")
	if got, err := nextEvent(grpcFirst); err != nil || got != seq {
		t.Fatalf("within the grace period the gRPC subscriber got %d, %v; want event %d", got, err, seq)
	}
	if l := nextNDJSON(t, lines); l.msg.GetEvent().GetSequence() != seq {
		t.Fatalf("within the grace period the NDJSON subscriber got %s, want event %d", l.raw, seq)
	}
	wantSSEEvent(t, sse, seq, "peer.join.success")

	// Rotating again ends the first token (only the token a rotation replaces keeps a grace
	// period): both its subscriptions end, while one opened with the second token (now the
	// previous one, in its grace) goes on.
	grpcSecond := subscribe(second)
	r = s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-token", operatorToken, map[string]any{"grace": "3600s"})
	third, _ := r.Body["api_token"].(string)
	if r.Status != 200 || third == "" {
		t.Fatalf("rotate-token: HTTP %d %s", r.Status, r.Raw)
	}
	wantUnauthenticated("after the first token's last rotation", grpcFirst)
	l := nextNDJSON(t, lines)
	if l.Error == nil || l.Error.Code != int(codes.Unauthenticated) || !strings.Contains(l.Error.Message, "no longer authenticates") {
		t.Fatalf("NDJSON after the first token's last rotation: %s, want a code 16 error line saying the token no longer authenticates", l.raw)
	}
	e := nextSSE(t, sse)
	var d struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if e.Event != "error" || len(e.Data) != 1 || json.Unmarshal([]byte(e.Data[0]), &d) != nil || d.Code != 401 || d.Reason != "UNAUTHENTICATED" {
		t.Fatalf("SSE after the first token's last rotation: %+v, want an error event with code 401, reason UNAUTHENTICATED", e)
	}
	seq = f.post(t, "peer.join.success", "room-1")
	if got, err := nextEvent(grpcSecond); err != nil || got != seq {
		t.Fatalf("the subscriber on the second token got %d, %v; want event %d", got, err, seq)
	}

	// Deleting the app ends the rest.
	grpcThird := subscribe(third)
	if got := s.rest("DELETE", "/admin/v1/accounts/acme/apps/web", operatorToken, nil); got.Status != 200 {
		t.Fatalf("DELETE: HTTP %d %s", got.Status, got.Raw)
	}
	wantUnauthenticated("after deleting the app (second token)", grpcSecond)
	wantUnauthenticated("after deleting the app (third token)", grpcThird)
}

// TestSubscriptionEndsWhenAppDeletedOnPostgres: two `livegate serve` processes on one
// PostgreSQL, a subscriber on each; `livegate apps delete --database-url` (a third process)
// ends both subscriptions with UNAUTHENTICATED, each node reading the app from the shared
// store (at the default progress interval: within about 5 s).
func TestSubscriptionEndsWhenAppDeletedOnPostgres(t *testing.T) {
	bin, dsn := buildLivegate(t), testenv.PostgresDB(t)
	ft := appsCreateOn(t, bin, dsn, "acc-revoke", "app-revoke")
	var streams []livegatev1.EventService_SubscribeClient
	for range 2 {
		node := startProcess(t, bin, t.TempDir(), "--database-url", dsn)
		st, err := livegatev1.NewEventServiceClient(dialFeed(t, node.grpc)).Subscribe(withToken(ft.token),
			&livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app, OnlyNew: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Header(); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		streams = append(streams, st)
	}
	if out, err := exec.Command(bin, "apps", "delete", "--yes", "--database-url", dsn, "--account", ft.acc, "--app", ft.app).CombinedOutput(); err != nil {
		t.Fatalf("apps delete --database-url: %v\n%s", err, out)
	}
	deleted := time.Now()
	for i, st := range streams {
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					done <- err
					return
				}
			}
		}()
		select {
		case err := <-done:
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("node %d: the stream ended with %v, want UNAUTHENTICATED", i, err)
			}
			t.Logf("node %d: the stream ended %v after the delete", i, time.Since(deleted).Round(time.Millisecond))
		case <-time.After(20 * time.Second):
			t.Errorf("node %d: the stream is still open 20s after the app was deleted", i)
		}
	}
}
