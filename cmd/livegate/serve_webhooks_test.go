package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/server"
)

// TestWebhooksOutFlags: the outbound webhooks flags default to https, public addresses only
// and 20 endpoints per app; they take their env vars and flags (the flag wins); garbage and
// a zero cap are refused naming the flag.
func TestWebhooksOutFlags(t *testing.T) {
	parse := func(args ...string) (server.WebhooksOut, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		w := webhooksOutFlags(fs)
		if err := fs.Parse(args); err != nil {
			return server.WebhooksOut{}, err
		}
		return w()
	}
	// Delivery (its own flags, webhooksDeliveryFlags) is not compared.
	policy := func(w server.WebhooksOut) server.WebhooksOut {
		return server.WebhooksOut{AllowHTTP: w.AllowHTTP, AllowPrivate: w.AllowPrivate, MaxPerApp: w.MaxPerApp}
	}
	got, err := parse()
	if err != nil || !reflect.DeepEqual(policy(got), server.WebhooksOut{MaxPerApp: 20}) {
		t.Fatalf("defaults: %+v, %v", got, err)
	}
	t.Setenv("LIVEGATE_WEBHOOKS_ALLOW_HTTP", "true")
	t.Setenv("LIVEGATE_WEBHOOKS_MAX_PER_APP", "5")
	got, err = parse("--webhooks-allow-private", "--webhooks-max-per-app=-1")
	if err != nil || !reflect.DeepEqual(policy(got), server.WebhooksOut{AllowHTTP: true, AllowPrivate: true, MaxPerApp: -1}) {
		t.Errorf("env and flags: %+v, %v", got, err)
	}
	if p := got.Policy(); !p.AllowHTTP || !p.AllowPrivate {
		t.Errorf("policy %+v", p)
	}
	t.Setenv("LIVEGATE_WEBHOOKS_ALLOW_PRIVATE", "sometimes")
	if _, err := parse(); err == nil || !strings.Contains(err.Error(), "LIVEGATE_WEBHOOKS_ALLOW_PRIVATE") {
		t.Errorf("a malformed env var: %v, want an error naming it", err)
	}
	if got, err := parse("--webhooks-allow-private=false"); err != nil || got.AllowPrivate {
		t.Errorf("the flag over a malformed env var: %+v, %v", got, err)
	}
	t.Setenv("LIVEGATE_WEBHOOKS_ALLOW_PRIVATE", "false")
	for _, bad := range []string{"--webhooks-allow-http=maybe", "--webhooks-allow-private=2", "--webhooks-max-per-app=0", "--webhooks-max-per-app=-2", "--webhooks-max-per-app=lots"} {
		name := strings.TrimPrefix(strings.Split(bad, "=")[0], "--")
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming --%s", bad, err, name)
		}
	}
}
