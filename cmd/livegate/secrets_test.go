package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestSecretsNotInUsage: secrets given in the environment (the database URL's password, an
// API token, a webhook secret) never appear in the usage that --help and every flag error
// print. Until 2026-11-29 each was the flag's default, printed in full: `livegate serve
// --http-adr :1` (a typo) showed `default "postgres://u:SeCrEtPw@..."` on stderr.
func TestSecretsNotInUsage(t *testing.T) {
	const password, token, secret = "SeCrEtPw", "tok-SeCrEt-1234", "whs-SeCrEt-5678"
	t.Setenv("LIVEGATE_DATABASE_URL", "postgres://livegate:"+password+"@db.internal:5432/livegate?sslmode=disable")
	t.Setenv("LIVEGATE_TOKEN", token)
	t.Setenv("LIVEGATE_WEBHOOK_SECRET", secret)
	for _, args := range [][]string{
		{"serve", "--help"},
		{"serve", "--http-adr", ":1"},
		{"apps", "create", "--help"},
		{"apps", "list", "--no-such-flag"},
		{"rtmp", "nginx-conf", "--help"},
		{"events", "tail", "--help"},
		{"bench", "ingest", "--help"},
		{"bench", "feed", "--no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		_ = run(context.Background(), args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, "-") {
			t.Errorf("%v printed no usage:\n%s", args, out)
		}
		for _, s := range []string{password, token, secret} {
			if strings.Contains(out, s) {
				t.Errorf("%v printed the secret %q:\n%s", args, s, out)
			}
		}
		if strings.Contains(out, "database-url") && !strings.Contains(out, "postgres://livegate:xxxxx@db.internal:5432/livegate") {
			t.Errorf("%v does not show the database URL redacted:\n%s", args, out)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                         "postgres://u@h/db",
		"postgres://u@h/db?password=pw&sslmode=off": "postgres://u@h/db?password=xxxxx&sslmode=off",
		"host=h user=u password=pw dbname=db":       "host=h user=u password=xxxxx dbname=db",
		"host=h password = 'p w\\'x' dbname=db":     "host=h password = xxxxx dbname=db",
		"host=h PASSWORD=pw":                        "host=h PASSWORD=xxxxx",
		"":                                          "",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
