package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/auth"
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
