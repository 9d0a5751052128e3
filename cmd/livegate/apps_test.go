package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// TestAppsCreateTwice: creating an app that exists fails, on SQLite and on PostgreSQL, with
// a message that says so and names the app, without the database's constraint text.
func TestAppsCreateTwice(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { appsCreateTwice(t, "--create", "--data-dir", t.TempDir()) })
	t.Run("postgres", func(t *testing.T) { appsCreateTwice(t, "--database-url", testenv.StartPostgres(t)) })
}

func appsCreateTwice(t *testing.T, storeFlags ...string) {
	args := append([]string{"apps", "create", "--account", "acme", "--app", "web"}, storeFlags...)
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, &out, &errOut); err != nil {
		t.Fatalf("first apps create: %v (stderr %s)", err, errOut.String())
	}
	var creds auth.Credentials
	if err := json.Unmarshal(out.Bytes(), &creds); err != nil || creds.APIToken == "" {
		t.Fatalf("first apps create printed %q: %v", out.String(), err)
	}

	out.Reset()
	err := run(t.Context(), args, &out, &errOut)
	if err == nil {
		t.Fatalf("second apps create succeeded, printing %q", out.String())
	}
	const want = "app acme/web already exists"
	if msg := err.Error(); !strings.HasPrefix(msg, want) {
		t.Errorf("second apps create: %q, want it to start with %q", msg, want)
	}
	for _, raw := range []string{"constraint", "UNIQUE", "duplicate key", "SQLSTATE", "apps_pkey", "apps.account_id"} {
		if strings.Contains(err.Error(), raw) {
			t.Errorf("second apps create: %q shows the database's text %q", err, raw)
		}
	}
	if out.Len() != 0 {
		t.Errorf("second apps create printed %q, want nothing on stdout", out.String())
	}
}

// TestAppsCreateRefusesAMissingDatabase: without --create, `apps create` on a data dir that
// holds no database (a mistyped --data-dir) fails naming the path, and creates nothing; with
// --create it makes the installation's first app, and later commands need no --create.
func TestAppsCreateRefusesAMissingDatabase(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "dat") // a typo of "data"
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"apps", "create", "--data-dir", dataDir, "--account", "acme", "--app", "web"}, &out, &errOut)
	if err == nil {
		t.Fatalf("apps create on a data dir without a database succeeded, printing %q", out.String())
	}
	for _, want := range []string{dataDir, "--create"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("apps create: %q, want it to name %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("apps create printed %q despite the error", out.String())
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("apps create without --create made %s: %v", dataDir, err)
	}

	if err := run(t.Context(), []string{"apps", "create", "--create", "--data-dir", dataDir, "--account", "acme", "--app", "web"}, &out, &errOut); err != nil {
		t.Fatalf("apps create --create: %v", err)
	}
	if err := run(t.Context(), []string{"apps", "create", "--data-dir", dataDir, "--account", "acme", "--app", "mobile"}, &out, &errOut); err != nil {
		t.Fatalf("apps create on the database --create made: %v", err)
	}
}

// TestAppsManagePostgres: list, rotate-token, rotate-webhook-secret and delete work on
// PostgreSQL (--database-url) as on SQLite, and a rotated token is accepted in its grace.
func TestAppsManagePostgres(t *testing.T) {
	db := []string{"--database-url", testenv.StartPostgres(t)}
	tenant := []string{"--account", "acme", "--app", "web"}
	do := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(t.Context(), append(args, db...), &out, &errOut); err != nil {
			t.Fatalf("livegate %s: %v (%s)", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	var creds auth.Credentials
	if err := json.Unmarshal([]byte(do(append([]string{"apps", "create"}, tenant...)...)), &creds); err != nil {
		t.Fatal(err)
	}
	var rot auth.Rotated
	if err := json.Unmarshal([]byte(do(append([]string{"apps", "rotate-token", "--grace", "1h"}, tenant...)...)), &rot); err != nil || rot.PreviousValidUntil == nil {
		t.Fatalf("rotate-token: %+v %v", rot, err)
	}
	if out := do("apps", "list"); !strings.Contains(out, `"account_id":"acme","app_id":"web"`) || !strings.Contains(out, "previous_token_valid_until") {
		t.Errorf("apps list: %q", out)
	}
	st, err := server.OpenStore(t.Context(), server.StoreConfig{DatabaseURL: db[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tok := range []string{creds.APIToken, rot.APIToken} {
		if _, err := auth.NewAuthenticator(st).Authenticate(t.Context(), "Bearer "+tok); err != nil {
			t.Errorf("a token in the grace on PostgreSQL: %v", err)
		}
	}
	do(append([]string{"apps", "rotate-webhook-secret", "--grace", "0"}, tenant...)...)
	do(append([]string{"apps", "delete", "--yes"}, tenant...)...)
	if out := do("apps", "list"); out != "" {
		t.Errorf("apps list after the delete: %q", out)
	}
}
