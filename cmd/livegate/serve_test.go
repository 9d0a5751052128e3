package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/server"
)

// TestLimitFlags: every limit defaults to server.DefaultLimits, takes its env var and its
// flag (the flag wins), accepts a negative value (off), and refuses zero and garbage naming
// the flag.
func TestLimitFlags(t *testing.T) {
	parse := func(args ...string) (server.Limits, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limits := limitFlags(fs)
		if err := fs.Parse(args); err != nil {
			return server.Limits{}, err
		}
		return limits()
	}
	got, err := parse()
	if err != nil || got != server.DefaultLimits() {
		t.Fatalf("defaults: %+v, %v; want %+v", got, err, server.DefaultLimits())
	}
	t.Setenv("LIVEGATE_HTTP_READ_TIMEOUT", "5s")
	t.Setenv("LIVEGATE_GRPC_MAX_STREAMS_PER_CONN", "7")
	got, err = parse("--grpc-max-streams-per-conn=9", "--http-max-conns=-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.HTTPReadTimeout != 5*time.Second || got.GRPCMaxStreamsPerConn != 9 || got.MaxHTTPConns != -1 {
		t.Errorf("env and flags: %+v", got)
	}
	for _, bad := range []string{"--http-write-timeout=0", "--http-idle-timeout=soon", "--grpc-max-conns=0", "--http-max-header-bytes=lots"} {
		name := strings.TrimPrefix(strings.Split(bad, "=")[0], "--")
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming --%s", bad, err, name)
		}
	}
}

// TestDatabaseListenFlag: --database-listen takes true or false; anything else is refused,
// naming the flag, before anything is opened.
func TestDatabaseListenFlag(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--database-listen=maybe"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--database-listen") {
		t.Errorf("serve --database-listen=maybe: %v, want an error naming --database-listen", err)
	}
}

// TestBaseURLFlags: --ingest-base takes an rtmp or rtmps URL and --playback-base an http or
// https one, each with a host and no query, fragment or credentials; anything else is
// refused, naming the flag, before anything is opened. (The operations audit started with
// "rtmp//live.example.com/live/" and "htps:/cdn example.com/hls/", and every livestream
// answered them as its ingest_server and playback_url.)
func TestBaseURLFlags(t *testing.T) {
	for _, c := range []struct{ flag, value string }{
		{"ingest-base", "rtmp//live.example.com/live/"},
		{"ingest-base", "not a url"},
		{"ingest-base", "ftp://x/live"},
		{"ingest-base", "http://live.example.com/live"},
		{"ingest-base", "rtmp:///live"},
		{"ingest-base", "rtmp://live.example.com/live?key=x"},
		{"playback-base", "htps:/cdn example.com/hls/"},
		{"playback-base", "rtmp://cdn.example.com/hls"},
		{"playback-base", "https://user:pw@cdn.example.com/hls"},
		{"playback-base", "https://cdn.example.com/hls#top"},
		{"playback-base", "http://cdn.example.com/hls?"},
		{"playback-base", "http://cdn.example.com/hls#"},
		{"playback-base", "https://cdn.example.com/hls "},
		{"ingest-base", "rtmp://live.example.com:99999/live"},
	} {
		// A bad flag checked later keeps serve from starting should the base pass.
		err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--" + c.flag + "=" + c.value, "--subscriber-stall-timeout=0"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--"+c.flag) {
			t.Errorf("serve --%s=%s: %v, want an error naming --%s", c.flag, c.value, err, c.flag)
		}
	}
	t.Setenv("LIVEGATE_PLAYBACK_BASE", "cdn.example.com/hls")
	err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--subscriber-stall-timeout=0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--playback-base") {
		t.Errorf("LIVEGATE_PLAYBACK_BASE=cdn.example.com/hls: %v, want an error naming --playback-base", err)
	}
	for _, ok := range []string{"rtmp://live.example.com/live", "rtmps://live.example.com:443/app", "rtmp://10.0.0.5:1935/live/", "rtmp://[::1]:1935/live"} {
		if err := checkBase("ingest-base", ok, "rtmp", "rtmps"); err != nil {
			t.Errorf("--ingest-base %s: %v", ok, err)
		}
	}
}

// TestTrustedProxiesFlag: --trusted-proxies (and LIVEGATE_TRUSTED_PROXIES) takes IP
// addresses and CIDR prefixes; anything else is refused, naming the flag, before anything
// is opened.
func TestTrustedProxiesFlag(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--trusted-proxies=10.0.0.0/8,proxy.example"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--trusted-proxies") || !strings.Contains(err.Error(), "proxy.example") {
		t.Errorf("serve --trusted-proxies=10.0.0.0/8,proxy.example: %v, want an error naming the flag and the bad entry", err)
	}
	t.Setenv("LIVEGATE_TRUSTED_PROXIES", "300.1.1.1")
	err = run(t.Context(), []string{"serve", "--data-dir", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--trusted-proxies") {
		t.Errorf("LIVEGATE_TRUSTED_PROXIES=300.1.1.1: %v, want an error naming --trusted-proxies", err)
	}
}

// TestCORSOriginsFlag: --cors-origins (and LIVEGATE_CORS_ORIGINS) takes origins as browsers
// send them, or *; a malformed one is refused, naming the flag and the entry, before anything
// is opened.
func TestCORSOriginsFlag(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--cors-origins=https://ok.example,https://app.example.com/"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--cors-origins") || !strings.Contains(err.Error(), "https://app.example.com/") {
		t.Errorf("serve --cors-origins=https://ok.example,https://app.example.com/: %v, want an error naming the flag and the bad entry", err)
	}
	t.Setenv("LIVEGATE_CORS_ORIGINS", "app.example.com")
	err = run(t.Context(), []string{"serve", "--data-dir", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--cors-origins") {
		t.Errorf("LIVEGATE_CORS_ORIGINS=app.example.com: %v, want an error naming --cors-origins", err)
	}
}

// TestAdminTokenFileFlag: --admin-token-file (and LIVEGATE_ADMIN_TOKEN_FILE) refuses a
// missing file, an empty one, a short token and one shaped like an app token, naming the
// flag and never echoing the token, before anything is opened.
func TestAdminTokenFileFlag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"empty", write("empty", "# only a comment\n\n"), "holds no operator token"},
		{"short", write("short", "tooshort-secret\n"), "at least 32"},
		{"app token", write("app", "lgt_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"), "as app API tokens do"},
	} {
		err := run(t.Context(), []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--admin-token-file", tc.path}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--admin-token-file") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming --admin-token-file and %q", tc.name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "tooshort-secret") || strings.Contains(err.Error(), "ABCDEFGHIJ")) {
			t.Errorf("%s: the error %q shows the token", tc.name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a bad --admin-token-file opened the store: %v", err)
	}
}

// TestFlagErrorsNameTheirSource: a value refused names where it came from: the environment
// variable when only that was set (a Compose file sets nothing else), the flag when it was
// given. Until 2026-11-30 both named the flag.
func TestFlagErrorsNameTheirSource(t *testing.T) {
	serve := func(args ...string) error {
		return run(t.Context(), append([]string{"serve", "--data-dir", t.TempDir()}, args...), io.Discard, io.Discard)
	}
	t.Setenv("LIVEGATE_MAX_SUBSCRIPTIONS", "0")
	if err := serve(); err == nil || !strings.HasPrefix(err.Error(), `LIVEGATE_MAX_SUBSCRIPTIONS (--max-subscriptions) "0": must be`) {
		t.Errorf("LIVEGATE_MAX_SUBSCRIPTIONS=0: %v, want an error naming the variable", err)
	}
	if err := serve("--max-subscriptions=x"); err == nil || !strings.HasPrefix(err.Error(), `--max-subscriptions "x": must be`) {
		t.Errorf("--max-subscriptions=x over the variable: %v, want an error naming the flag", err)
	}
	t.Setenv("LIVEGATE_MAX_SUBSCRIPTIONS", "-1")
	t.Setenv("LIVEGATE_HTTP_READ_TIMEOUT", "-1")
	err := serve()
	if err == nil || !strings.HasPrefix(err.Error(), `LIVEGATE_HTTP_READ_TIMEOUT (--http-read-timeout) "-1": `) || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("LIVEGATE_HTTP_READ_TIMEOUT=-1: %v, want an error naming the variable and showing -1s", err)
	}
	t.Setenv("LIVEGATE_HTTP_READ_TIMEOUT", "30s")
	t.Setenv("LIVEGATE_ADMIN_TOKEN_FILE", filepath.Join(t.TempDir(), "missing"))
	if err := serve(); err == nil || !strings.HasPrefix(err.Error(), "LIVEGATE_ADMIN_TOKEN_FILE (--admin-token-file): ") {
		t.Errorf("LIVEGATE_ADMIN_TOKEN_FILE missing: %v, want an error naming the variable", err)
	}
}
