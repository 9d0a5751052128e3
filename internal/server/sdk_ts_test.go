package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkTSDir holds the TypeScript SDK conformance script and its npm dependencies (npm
// cloudflare, pinned by package.json and package-lock.json; `npm ci` there installs them,
// as .ci/run does).
const sdkTSDir = "testdata/sdk-ts"

// TestRealtimeKitSDKTypeScript runs the official RealtimeKit TypeScript SDK (npm cloudflare
// 7.3.0, with Debian's node) against a running livegate: every realtimeKit.livestreams and
// realtimeKit.webhooks method succeeds with the values livegate stored, and its failures are
// the SDK's typed errors (NotFoundError, AuthenticationError, PermissionDeniedError, ConflictError). node and
// the installed SDK are prerequisites: without them the test fails, naming what to install.
func TestRealtimeKitSDKTypeScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required (Debian: apt-get install -y nodejs npm): %v", err)
	}
	pkg, err := os.ReadFile(filepath.Join(sdkTSDir, "node_modules", "cloudflare", "package.json"))
	if err != nil {
		t.Fatalf("the TypeScript SDK is not installed: run `npm ci` in internal/server/%s (scripts/test.sh does): %v", sdkTSDir, err)
	}
	var installed struct{ Version string }
	if err := json.Unmarshal(pkg, &installed); err != nil || installed.Version != "7.3.0" {
		t.Fatalf("installed npm cloudflare is %q, want 7.3.0: run `npm ci` in internal/server/%s", installed.Version, sdkTSDir)
	}

	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	other := s.createApp(accB, appB)
	created := s.rest("POST", "/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", creds.APIToken, map[string]any{"name": "ts-independent"})
	if created.Status != 201 {
		t.Fatalf("create livestream: %d %s", created.Status, created.Raw)
	}
	independentID, _ := created.data(t)["id"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sdk.mjs")
	cmd.Dir = sdkTSDir
	cmd.Env = append(os.Environ(),
		"LIVEGATE_BASE_URL="+s.base,
		"LIVEGATE_ACCOUNT="+accA, "LIVEGATE_APP="+appA, "LIVEGATE_TOKEN="+creds.APIToken,
		"LIVEGATE_OTHER_TOKEN="+other.APIToken,
		"LIVEGATE_LIVESTREAM_ID="+independentID,
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node sdk.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var report struct {
		SDKVersion          string                     `json:"sdk_version"`
		MeetingLivestreamID string                     `json:"meeting_livestream_id"`
		Results             map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("node sdk.mjs printed no report: %v\n%s\nstderr: %s", err, out, stderr.String())
	}
	if report.SDKVersion != "7.3.0" {
		t.Errorf("SDK version %q, want 7.3.0", report.SDKVersion)
	}
	meetingID := report.MeetingLivestreamID

	// result decodes one step's answer into v, failing the test if the step threw.
	result := func(step string, v any) {
		t.Helper()
		raw, ok := report.Results[step]
		if !ok {
			t.Fatalf("step %s missing from the report", step)
		}
		var failed struct{ Error *sdkError }
		_ = json.Unmarshal(raw, &failed)
		if failed.Error != nil {
			t.Fatalf("%s threw %+v", step, *failed.Error)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v\n%s", step, err, raw)
		}
	}
	// threw returns the typed error a step threw, failing the test if it succeeded.
	threw := func(step string) sdkError {
		t.Helper()
		var failed struct{ Error *sdkError }
		if err := json.Unmarshal(report.Results[step], &failed); err != nil || failed.Error == nil {
			t.Fatalf("%s: want an error, got %s", step, report.Results[step])
		}
		return *failed.Error
	}

	var startedRaw struct {
		Success bool
		Data    map[string]any
	}
	result("startLivestreamingAMeeting", &startedRaw)
	if !startedRaw.Success || startedRaw.Data["id"] != meetingID || startedRaw.Data["status"] != "INVOKED" || startedRaw.Data["stream_key"] != "" ||
		startedRaw.Data["ingest_server"] != "" || startedRaw.Data["playback_url"] != "" {
		t.Errorf("startLivestreamingAMeeting: %v", startedRaw)
	}

	var all struct {
		Data struct {
			Livestreams []map[string]any
			Paging      struct {
				TotalCount  int `json:"total_count"`
				StartOffset int `json:"start_offset"`
				EndOffset   int `json:"end_offset"`
			} `json:"paging"`
		}
	}
	result("getAllLivestreams", &all)
	if p := all.Data.Paging; len(all.Data.Livestreams) != 2 || all.Data.Livestreams[0]["id"] != independentID ||
		all.Data.Livestreams[1]["id"] != meetingID || p.TotalCount != 2 || p.StartOffset != 0 || p.EndOffset != 1 {
		t.Errorf("getAllLivestreams: %+v", all.Data)
	}
	var ranged struct {
		Data struct {
			Livestreams []map[string]any
		}
	}
	result("getAllLivestreamsRanged", &ranged)
	if len(ranged.Data.Livestreams) != 2 {
		t.Errorf("getAllLivestreams over the last hour (RFC 3339 range): %d livestreams, want 2", len(ranged.Data.Livestreams))
	}

	var active struct{ Data map[string]any }
	result("getMeetingActiveLivestreams", &active)
	if active.Data["id"] != meetingID || active.Data["meeting_id"] != "ts-meeting" {
		t.Errorf("getMeetingActiveLivestreams: %v", active.Data)
	}
	var activeSession struct {
		Data struct{ Livestream, Session map[string]any }
	}
	result("getActiveLivestreamsForLivestreamID", &activeSession)
	sessionID, _ := activeSession.Data.Session["id"].(string)
	if sessionID == "" || activeSession.Data.Livestream["id"] != meetingID {
		t.Errorf("getActiveLivestreamsForLivestreamID: %+v", activeSession.Data)
	}
	var session struct{ Data map[string]any }
	result("getLivestreamSessionDetailsForSessionID", &session)
	if session.Data["id"] != sessionID || session.Data["livestream_id"] != meetingID {
		t.Errorf("getLivestreamSessionDetailsForSessionID: %v", session.Data)
	}
	var stopped struct{ Data struct{ Message string } }
	result("stopLivestreamingAMeeting", &stopped)
	if !strings.Contains(stopped.Data.Message, meetingID) {
		t.Errorf("stopLivestreamingAMeeting: %+v", stopped.Data)
	}
	var withSessions struct {
		Data struct {
			Livestream, Session map[string]any
		}
	}
	result("getLivestreamSessionForLivestreamID", &withSessions)
	if withSessions.Data.Livestream["status"] != "IDLE" || withSessions.Data.Session["id"] != sessionID || withSessions.Data.Session["stopped_time"] == nil {
		t.Errorf("getLivestreamSessionForLivestreamID: %+v", withSessions.Data)
	}

	var overall struct {
		Data struct {
			Count              int
			TotalIngestSeconds float64 `json:"total_ingest_seconds"`
		}
	}
	result("getLivestreamAnalyticsComplete", &overall)
	if overall.Data.Count != 1 {
		t.Errorf("getLivestreamAnalyticsComplete (Unix seconds): count %d, want 1", overall.Data.Count)
	}
	var daywise struct {
		Success bool
		Data    []struct {
			Date               *string
			Count              int
			TotalIngestSeconds *json.Number `json:"total_ingest_seconds"`
			TotalViewerSeconds *json.Number `json:"total_viewer_seconds"`
		}
	}
	result("getLivestreamAnalyticsDaywise", &daywise)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if !daywise.Success || len(daywise.Data) != 3 {
		t.Fatalf("getLivestreamAnalyticsDaywise: %s, want 3 days", report.Results["getLivestreamAnalyticsDaywise"])
	}
	for i, d := range daywise.Data {
		want := today.AddDate(0, 0, i-2).Format(time.DateOnly)
		if d.Date == nil || *d.Date != want || d.TotalIngestSeconds == nil || d.TotalViewerSeconds == nil ||
			(i == 2) != (d.Count == 1) {
			t.Errorf("daywise day %d: %+v, want %s", i, d, want)
		}
		for _, n := range []*json.Number{d.TotalIngestSeconds, d.TotalViewerSeconds} {
			if n != nil {
				if _, err := n.Int64(); err != nil {
					t.Errorf("daywise day %d: seconds %s are not whole", i, *n)
				}
			}
		}
	}
	var org struct {
		Data struct {
			SessionStats struct {
				SessionsCount int `json:"sessions_count"`
			} `json:"session_stats"`
		}
	}
	result("getOrgAnalytics", &org)
	if org.Data.SessionStats.SessionsCount != 1 {
		t.Errorf("getOrgAnalytics: %+v", org.Data)
	}

	// Typed errors, with the envelope the SDK reads.
	for step, want := range map[string]struct {
		class  string
		status int
	}{
		"startAgain":       {"ConflictError", 409},
		"notFound":         {"NotFoundError", 404},
		"unauthenticated":  {"AuthenticationError", 401},
		"permissionDenied": {"PermissionDeniedError", 403},
		"filtersRefused":   {"BadRequestError", 400},
	} {
		e := threw(step)
		if e.Class != want.class || e.Status != want.status || !e.APIError || len(e.Errors) != 1 || e.Errors[0].Code != want.status || e.Errors[0].Message == "" {
			t.Errorf("%s: threw %+v, want %s (HTTP %d) with one error in the envelope", step, e, want.class, want.status)
		}
	}
	if e := threw("filtersRefused"); !strings.Contains(e.Errors[0].Message, "filters") {
		t.Errorf("filters refused with %q, want a message naming filters", e.Errors[0].Message)
	}

	// realtimeKit.webhooks.
	type webhook struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		URL       string   `json:"url"`
		Events    []string `json:"events"`
		Enabled   bool     `json:"enabled"`
		CreatedAt string   `json:"created_at"`
		UpdatedAt string   `json:"updated_at"`
		Secret    *string  `json:"secret"`
	}
	var createdHook struct {
		Success bool
		Data    webhook
	}
	result("createWebhook", &createdHook)
	c := createdHook.Data
	if !createdHook.Success || c.ID == "" || c.Name != "ts-hook" || c.URL != "https://93.184.215.14/hooks/ts" || !c.Enabled ||
		strings.Join(c.Events, ",") != "livestreaming.statusUpdate,meeting.started" || c.CreatedAt == "" || c.Secret == nil || !strings.HasPrefix(*c.Secret, "whsec_") {
		t.Errorf("createWebhook: %s", report.Results["createWebhook"])
	}
	var hooks struct{ Data []webhook }
	result("getWebhooks", &hooks)
	if len(hooks.Data) != 1 || hooks.Data[0].ID != c.ID || hooks.Data[0].Secret != nil {
		t.Errorf("getWebhooks: %s", report.Results["getWebhooks"])
	}
	var one struct{ Data webhook }
	result("getWebhookByID", &one)
	if one.Data.ID != c.ID || one.Data.CreatedAt != c.CreatedAt || one.Data.Secret != nil {
		t.Errorf("getWebhookByID: %s", report.Results["getWebhookByID"])
	}
	result("editWebhook", &one)
	if d := one.Data; d.Name != "ts-renamed" || d.Enabled || d.URL != c.URL || len(d.Events) != 2 {
		t.Errorf("editWebhook: %s", report.Results["editWebhook"])
	}
	result("replaceWebhook", &one)
	if d := one.Data; d.Name != "ts-replaced" || !d.Enabled || d.URL != c.URL+"/v2" || strings.Join(d.Events, ",") != "meeting.ended" || d.CreatedAt != c.CreatedAt {
		t.Errorf("replaceWebhook: %s", report.Results["replaceWebhook"])
	}
	result("deleteWebhook", &one)
	if one.Data.ID != c.ID || one.Data.Name != "ts-replaced" {
		t.Errorf("deleteWebhook: %s", report.Results["deleteWebhook"])
	}
	if e := threw("webhookGone"); e.Class != "NotFoundError" || e.Status != 404 {
		t.Errorf("getWebhookByID after deleteWebhook: threw %+v, want NotFoundError", e)
	}
	if e := threw("webhookRefused"); e.Class != "BadRequestError" || e.Status != 400 || len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Message, "meeting.transcript") {
		t.Errorf("createWebhook with meeting.transcript: threw %+v, want BadRequestError naming it", e)
	}
}

// sdkError is what sdk.mjs reports of an error the SDK threw.
type sdkError struct {
	Class    string `json:"class"`
	APIError bool   `json:"api_error"`
	Status   int    `json:"status"`
	Errors   []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Message string `json:"message"`
}
