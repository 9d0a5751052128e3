package server_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
)

const operatorToken = "op_0123456789abcdef0123456789abcdef" // 35 characters

func withAdminAPI(cfg *server.Config) { cfg.AdminTokens = []string{operatorToken} }

// TestAdminAPI: with an operator token, the admin API creates, lists, rotates and deletes
// apps over REST (/admin/v1/...) and gRPC (AdminService), and records every action in the
// audit log under the token's fingerprint. An app token is refused on the admin API (401),
// the operator token on the app API (401).
func TestAdminAPI(t *testing.T) {
	s := startServer(t, t.TempDir(), withAdminAPI)
	const appPath = "/accounts/acme/realtime/kit/web/livestreams"

	// Create: 201 with the credentials, which work on the app API at once.
	r := s.rest("POST", "/admin/v1/apps", operatorToken, map[string]any{"account_id": "acme", "app_id": "web"})
	if r.Status != 201 {
		t.Fatalf("POST /admin/v1/apps: HTTP %d %s, want 201", r.Status, r.Raw)
	}
	appToken, _ := r.Body["api_token"].(string)
	firstSecret, _ := r.Body["webhook_secret"].(string)
	if !strings.HasPrefix(appToken, "lgt_") || !strings.HasPrefix(firstSecret, "whsec_") {
		t.Fatalf("POST /admin/v1/apps answered %s", r.Raw)
	}
	if got := s.rest("GET", appPath, appToken, nil); got.Status != 200 {
		t.Fatalf("the created app's token on the app API: HTTP %d %s", got.Status, got.Raw)
	}
	if got := s.rest("POST", "/admin/v1/apps", operatorToken, map[string]any{"account_id": "acme", "app_id": "web"}); got.Status != 409 {
		t.Errorf("creating acme/web again: HTTP %d %s, want 409", got.Status, got.Raw)
	}
	if got := s.rest("POST", "/admin/v1/apps", operatorToken, map[string]any{"account_id": "acme", "app_id": "no/slash"}); got.Status != 400 {
		t.Errorf("creating an app with a bad id: HTTP %d %s, want 400", got.Status, got.Raw)
	}

	// The two kinds of token never cross over.
	for _, tc := range []struct{ name, method, path, token string }{
		{"an app token on the admin API", "GET", "/admin/v1/apps", appToken},
		{"no token on the admin API", "GET", "/admin/v1/apps", ""},
		{"a wrong operator token on the admin API", "GET", "/admin/v1/apps", operatorToken + "x"},
		{"an app token creating an app", "POST", "/admin/v1/apps", appToken},
		{"the operator token on the app API", "GET", appPath, operatorToken},
	} {
		var body any
		if tc.method == "POST" {
			body = map[string]any{"account_id": "acme", "app_id": "other"}
		}
		if got := s.rest(tc.method, tc.path, tc.token, body); got.Status != 401 {
			t.Errorf("%s: HTTP %d %s, want 401", tc.name, got.Status, got.Raw)
		}
	}
	admin := livegatev1.NewAdminServiceClient(s.conn)
	if _, err := admin.ListApps(withToken(appToken), &livegatev1.ListAppsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC ListApps with an app token: %v, want UNAUTHENTICATED", err)
	}
	if _, err := s.livestreams.ListLivestreams(withToken(operatorToken), &livegatev1.ListLivestreamsRequest{AccountId: "acme", AppId: "web"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC ListLivestreams with the operator token: %v, want UNAUTHENTICATED", err)
	}

	// List: the app, without any credential.
	r = s.rest("GET", "/admin/v1/apps", operatorToken, nil)
	if r.Status != 200 || !strings.Contains(string(r.Raw), `"account_id":"acme"`) || strings.Contains(string(r.Raw), appToken[:20]) || strings.Contains(string(r.Raw), "whsec_") {
		t.Errorf("GET /admin/v1/apps: HTTP %d %s", r.Status, r.Raw)
	}

	// Rotate the token with an hour's grace: both work; the listing says until when.
	r = s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-token", operatorToken, map[string]any{"grace": "3600s"})
	newToken, _ := r.Body["api_token"].(string)
	until, _ := r.Body["previous_valid_until"].(string)
	if r.Status != 200 || newToken == "" || until == "" {
		t.Fatalf("rotate-token: HTTP %d %s", r.Status, r.Raw)
	}
	if u, err := time.Parse(time.RFC3339Nano, until); err != nil || time.Until(u) < 59*time.Minute || time.Until(u) > time.Hour {
		t.Errorf("rotate-token with grace 3600s: previous_valid_until %s (%v), want an hour from now", until, err)
	}
	for name, tok := range map[string]string{"old": appToken, "new": newToken} {
		if got := s.rest("GET", appPath, tok, nil); got.Status != 200 {
			t.Errorf("the %s token in the grace: HTTP %d %s", name, got.Status, got.Raw)
		}
	}
	if r := s.rest("GET", "/admin/v1/apps", operatorToken, nil); !strings.Contains(string(r.Raw), `"previous_token_valid_until":"`+until+`"`) {
		t.Errorf("GET /admin/v1/apps after the rotation: %s, want previous_token_valid_until %s", r.Raw, until)
	}
	// Over gRPC, with no grace: the token rotated above and this one's predecessor stop at once.
	rot, err := admin.RotateAppToken(withToken(operatorToken), &livegatev1.RotateAppTokenRequest{AccountId: "acme", AppId: "web", Grace: durationpb.New(0)})
	if err != nil || rot.GetPreviousValidUntil() != nil {
		t.Fatalf("gRPC RotateAppToken grace 0: %v, %v", rot, err)
	}
	for name, tok := range map[string]string{"first": appToken, "second": newToken} {
		if got := s.rest("GET", appPath, tok, nil); got.Status != 401 {
			t.Errorf("the %s token after a rotation without grace: HTTP %d, want 401", name, got.Status)
		}
	}
	if got := s.rest("GET", appPath, rot.GetApiToken(), nil); got.Status != 200 {
		t.Errorf("the third token: HTTP %d %s", got.Status, got.Raw)
	}
	if got := s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-token", operatorToken, map[string]any{"grace": "-1s"}); got.Status != 400 {
		t.Errorf("rotate-token with a negative grace: HTTP %d %s, want 400", got.Status, got.Raw)
	}
	// At most 7 days: a longer one would leave the old credential working for good (it was
	// saturated to about 292 years before 2026-11-29).
	for _, route := range []string{"rotate-token", "rotate-webhook-secret"} {
		if got := s.rest("POST", "/admin/v1/accounts/acme/apps/web/"+route, operatorToken, map[string]any{"grace": "315576000000s"}); got.Status != 400 || !strings.Contains(string(got.Raw), "grace") {
			t.Errorf("%s with a grace of 10,000 years: HTTP %d %s, want 400 naming grace", route, got.Status, got.Raw)
		}
	}
	if got := s.rest("POST", "/admin/v1/accounts/acme/apps/nope/rotate-token", operatorToken, map[string]any{}); got.Status != 404 {
		t.Errorf("rotate-token of an unknown app: HTTP %d %s, want 404", got.Status, got.Raw)
	}

	// The webhook secret, default grace (24 h): the old and the new one are accepted.
	r = s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-webhook-secret", operatorToken, map[string]any{})
	newSecret, _ := r.Body["webhook_secret"].(string)
	if r.Status != 200 || newSecret == "" || r.Body["previous_valid_until"] == nil {
		t.Fatalf("rotate-webhook-secret: HTTP %d %s", r.Status, r.Raw)
	}
	for i, secret := range []string{firstSecret, newSecret} {
		body := withID(t, readFixture(t, "../../testdata/hms/peer.join.success.json"), "delivery-"+string(rune('a'+i)))
		if got := s.post(hmsPath("acme", "web"), map[string]string{"X-Webhook-Secret": secret}, body); got.Status != 200 {
			t.Errorf("100ms delivery with secret %d of 2 after the rotation: HTTP %d %s", i+1, got.Status, got.Raw)
		}
	}

	amityBody := readFixture(t, "../../testdata/amity/video-streaming.didStop.json")
	if got := s.post(amityPath("acme", "web"), map[string]string{amity.SignatureHeader: amity.Sign([]byte(firstSecret), amityBody)}, amityBody); got.Status != 200 {
		t.Errorf("Amity delivery signed with the previous secret in its grace: HTTP %d %s", got.Status, got.Raw)
	}
	// Without grace, the previous secret is refused at once.
	if got := s.rest("POST", "/admin/v1/accounts/acme/apps/web/rotate-webhook-secret", operatorToken, map[string]any{"grace": "0s"}); got.Status != 200 || got.Body["previous_valid_until"] != nil {
		t.Fatalf("rotate-webhook-secret grace 0s: HTTP %d %s", got.Status, got.Raw)
	}
	if got := s.post(hmsPath("acme", "web"), map[string]string{"X-Webhook-Secret": newSecret}, withID(t, readFixture(t, "../../testdata/hms/peer.join.success.json"), "delivery-z")); got.Status != 401 {
		t.Errorf("100ms delivery with a secret rotated without grace: HTTP %d %s, want 401", got.Status, got.Raw)
	}

	// Delete: the token stops working; a second delete is 404.
	if got := s.rest("DELETE", "/admin/v1/accounts/acme/apps/web", operatorToken, nil); got.Status != 200 {
		t.Fatalf("DELETE: HTTP %d %s", got.Status, got.Raw)
	}
	if got := s.rest("GET", appPath, rot.GetApiToken(), nil); got.Status != 401 {
		t.Errorf("the deleted app's token: HTTP %d, want 401", got.Status)
	}
	if got := s.rest("DELETE", "/admin/v1/accounts/acme/apps/web", operatorToken, nil); got.Status != 404 {
		t.Errorf("DELETE again: HTTP %d %s, want 404", got.Status, got.Raw)
	}

	// The audit log: every action that changed something, in order, by the operator's
	// fingerprint (never the token), over gRPC and REST alike.
	log, err := admin.ListAuditEntries(withToken(operatorToken), &livegatev1.ListAuditEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	actor := auth.OperatorActor(operatorToken)
	for _, e := range log.GetEntries() {
		got = append(got, e.GetAction())
		if e.GetActor() != actor || e.GetAccountId() != "acme" || e.GetAppId() != "web" || e.GetTime() == nil {
			t.Errorf("audit entry %v: want actor %s, app acme/web, a time", e, actor)
		}
	}
	want := []string{auth.ActionCreate, auth.ActionRotateToken, auth.ActionRotateToken, auth.ActionRotateWebhookSecret, auth.ActionRotateWebhookSecret, auth.ActionDelete}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit log actions %v, want %v", got, want)
	}
	r = s.rest("GET", "/admin/v1/audit-entries?after="+jsonUint(log.GetEntries()[0].GetSequence())+"&limit=1", operatorToken, nil)
	if entries, _ := r.Body["entries"].([]any); r.Status != 200 || len(entries) != 1 || !strings.Contains(string(r.Raw), auth.ActionRotateToken) {
		t.Errorf("GET /admin/v1/audit-entries after the first, limit 1: HTTP %d %s", r.Status, r.Raw)
	}
	if strings.Contains(string(r.Raw), operatorToken) {
		t.Error("the audit log shows the operator token")
	}
	if got := s.rest("GET", "/admin/v1/audit-entries", appToken, nil); got.Status != 401 {
		t.Errorf("the audit log with an app token: HTTP %d, want 401", got.Status)
	}
}

func jsonUint(n uint64) string { return strconv.FormatUint(n, 10) }

// TestAdminAPIOff: without operator tokens the admin API does not exist: its REST routes
// answer 404 and its gRPC methods UNIMPLEMENTED, whatever token is sent.
func TestAdminAPIOff(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acme", "web")
	for _, tok := range []string{"", creds.APIToken, operatorToken} {
		if got := s.rest("GET", "/admin/v1/apps", tok, nil); got.Status != 404 {
			t.Errorf("GET /admin/v1/apps with the admin API off (token %q): HTTP %d %s, want 404", tok, got.Status, got.Raw)
		}
		if got := s.rest("POST", "/admin/v1/apps", tok, map[string]any{"account_id": "a", "app_id": "b"}); got.Status != 404 {
			t.Errorf("POST /admin/v1/apps with the admin API off: HTTP %d %s, want 404", got.Status, got.Raw)
		}
		_, err := livegatev1.NewAdminServiceClient(s.conn).ListApps(withToken(tok), &livegatev1.ListAppsRequest{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("gRPC ListApps with the admin API off: %v, want UNIMPLEMENTED", err)
		}
	}
}
