package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/testenv"
)

// call is one REST call a client made: when it was sent, when answered, and the status.
type call struct {
	sent, answered time.Time
	status         int
}

// restGet sends GET path with token to base and returns the status and body.
func restGet(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// cli runs a livegate command line and returns its stdout, failing the test on an error.
func cli(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, &out, &errOut); err != nil {
		t.Fatalf("livegate %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestAppsRotateTokenWhileServing is the "done when": a client keeps calling a
// running `livegate serve` with its token while `livegate apps rotate-token --grace` (another
// process's store on the same data dir) replaces it. Its calls succeed through the grace
// with the old token and fail with 401 after it; the new token works at once. Then the other
// apps commands, on the same running server: list, rotate-webhook-secret, delete.
func TestAppsRotateTokenWhileServing(t *testing.T) {
	dataDir := t.TempDir()
	out, _ := cli(t, "apps", "create", "--create", "--data-dir", dataDir, "--account", "acme", "--app", "web")
	var creds auth.Credentials
	if err := json.Unmarshal([]byte(out), &creds); err != nil {
		t.Fatalf("apps create printed %q: %v", out, err)
	}

	httpAddr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--data-dir", dataDir, "--http-addr", httpAddr,
			"--grpc-addr", testenv.FreeAddr(t), "--admin-addr", testenv.FreeAddr(t), "--log-level", "error"}, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	base := "http://" + httpAddr
	const path = "/accounts/acme/realtime/kit/web/livestreams"
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := restGet(t, base, path, creds.APIToken); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not answer within 15s")
		}
	}

	// The client: calls with the old token until told to stop.
	var (
		mu    sync.Mutex
		calls []call
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			sent := time.Now()
			code, body := restGet(t, base, path, creds.APIToken)
			c := call{sent: sent, answered: time.Now(), status: code}
			if code != 200 && (code != 401 || !strings.Contains(body, "UNAUTHENTICATED")) {
				t.Errorf("old token: HTTP %d %s", code, body)
			}
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		}
	}()

	const grace = 2 * time.Second
	rotatedAt := time.Now()
	out, msg := cli(t, "apps", "rotate-token", "--data-dir", dataDir, "--account", "acme", "--app", "web", "--grace", grace.String())
	var rot auth.Rotated
	if err := json.Unmarshal([]byte(out), &rot); err != nil || rot.APIToken == "" || rot.PreviousValidUntil == nil {
		t.Fatalf("apps rotate-token printed %q: %v", out, err)
	}
	until := *rot.PreviousValidUntil
	if !strings.Contains(msg, "stays valid until "+until.Format(time.RFC3339)) {
		t.Errorf("apps rotate-token said %q, want until when the old token stays valid (%s)", msg, until.Format(time.RFC3339))
	}
	if d := until.Sub(rotatedAt); d < grace || d > grace+10*time.Second {
		t.Errorf("previous_valid_until %s is %s after the rotation began, want about %s", until, d, grace)
	}
	// The new token works at once; the old one is not the new one.
	if code, body := restGet(t, base, path, rot.APIToken); code != 200 {
		t.Fatalf("new token right after the rotation: HTTP %d %s", code, body)
	}
	if rot.APIToken == creds.APIToken {
		t.Fatal("rotate-token printed the old token")
	}
	// During the grace, apps list says until when the old token is accepted.
	out, _ = cli(t, "apps", "list", "--data-dir", dataDir)
	if !strings.Contains(out, `"previous_token_valid_until":"`+until.Format(time.RFC3339Nano)+`"`) && time.Now().Before(until) {
		t.Errorf("apps list during the grace: %s, want previous_token_valid_until %s", out, until.Format(time.RFC3339Nano))
	}

	// Keep calling until well past the grace.
	for time.Now().Before(until.Add(time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	var inGrace, after int
	for _, c := range calls {
		switch {
		case c.answered.Before(until): // asked and answered before the expiry
			if c.status != 200 {
				t.Errorf("old token, call sent %s, answered before the expiry %s: HTTP %d", c.sent.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), c.status)
			}
			if c.sent.After(rotatedAt) {
				inGrace++
			}
		case c.sent.After(until): // sent after the expiry
			if c.status != 401 {
				t.Errorf("old token, call sent %s after the expiry %s: HTTP %d, want 401", c.sent.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), c.status)
			}
			after++
		}
	}
	if inGrace == 0 || after == 0 {
		t.Errorf("the client made %d calls in the grace and %d after it; want some of each (%d in all)", inGrace, after, len(calls))
	}
	if code, body := restGet(t, base, path, rot.APIToken); code != 200 {
		t.Errorf("new token after the grace: HTTP %d %s", code, body)
	}

	// The webhook secret: the old one is accepted during the grace, and so is the new one.
	out, msg = cli(t, "apps", "rotate-webhook-secret", "--data-dir", dataDir, "--account", "acme", "--app", "web")
	var wh auth.Rotated
	if err := json.Unmarshal([]byte(out), &wh); err != nil || wh.WebhookSecret == "" || wh.PreviousValidUntil == nil {
		t.Fatalf("apps rotate-webhook-secret printed %q: %v", out, err)
	}
	if d := time.Until(*wh.PreviousValidUntil); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("rotate-webhook-secret without --grace: the old secret stays valid %s more, want 24h (%q)", d, msg)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for i, secret := range []string{creds.WebhookSecret, wh.WebhookSecret} {
		if _, _, err := testenv.PostHMS(client, base, "acme", "web", secret, testenv.HMSDelivery("peer.join.success", "room-"+string(rune('a'+i)))); err != nil {
			t.Errorf("100ms delivery with secret %d of 2 after the rotation: %v", i+1, err)
		}
	}
	if _, _, err := testenv.PostHMS(client, base, "acme", "web", "whsec_wrong", testenv.HMSDelivery("peer.join.success", "room-z")); err == nil {
		t.Error("100ms delivery with a wrong secret accepted")
	}

	// Delete: refused without --yes; with it, the app and its token are gone.
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"apps", "delete", "--data-dir", dataDir, "--account", "acme", "--app", "web"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("apps delete without --yes: %v, want an error asking for --yes", err)
	}
	if code, _ := restGet(t, base, path, rot.APIToken); code != 200 {
		t.Fatalf("apps delete without --yes deleted the app (HTTP %d)", code)
	}
	cli(t, "apps", "delete", "--yes", "--data-dir", dataDir, "--account", "acme", "--app", "web")
	if code, _ := restGet(t, base, path, rot.APIToken); code != 401 {
		t.Errorf("token of a deleted app: HTTP %d, want 401", code)
	}
	if out, _ := cli(t, "apps", "list", "--data-dir", dataDir); out != "" {
		t.Errorf("apps list after the delete: %q, want nothing", out)
	}
	err = run(t.Context(), []string{"apps", "rotate-token", "--data-dir", dataDir, "--account", "acme", "--app", "web"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no app acme/web in "+dataDir) {
		t.Errorf("rotate-token of a deleted app: %v, want an error naming the app and the data dir", err)
	}
}
