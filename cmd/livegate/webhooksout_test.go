package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/outbound"
)

// TestWebhooksDeliveryFlags: the delivery flags default to 10 s per request, 64 in flight,
// 5s,30s,2m,10m,1h for 24 h, disabling after 5 days, lease retries every 10 s; they take
// their env vars; garbage is refused naming the flag; 0 disable-after is never.
func TestWebhooksDeliveryFlags(t *testing.T) {
	parse := func(args ...string) (outbound.Options, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := webhooksDeliveryFlags(fs)
		if err := fs.Parse(args); err != nil {
			return outbound.Options{}, err
		}
		return o()
	}
	o, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	d := outbound.DefaultSchedule()
	if o.Timeout != 10*time.Second || o.MaxConcurrent != 64 || o.MaxConcurrentPerApp != 8 || !slices.Equal(o.Schedule.Steps, d.Steps) || o.Schedule.For != 24*time.Hour ||
		o.DisableAfter != 120*time.Hour || o.LeaseRetry != 10*time.Second || o.Schedule.Jitter != d.Jitter || o.LogRetention != 7*24*time.Hour {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []string{"--webhooks-timeout=0", "--webhooks-max-concurrent=0", "--webhooks-max-concurrent-per-app=0", "--webhooks-max-concurrent-per-app=-2", "--webhooks-retry-schedule=5s,,1h",
		"--webhooks-retry-for=-1h", "--webhooks-disable-after=soon", "--webhooks-lease-retry=0", "--webhooks-log-retention=-1h"} {
		name := strings.TrimPrefix(strings.Split(bad, "=")[0], "--")
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming --%s", bad, err, name)
		}
	}
	t.Setenv("LIVEGATE_WEBHOOKS_RETRY_SCHEDULE", "1s,2s")
	o, err = parse("--webhooks-timeout=3s", "--webhooks-max-concurrent=8", "--webhooks-max-concurrent-per-app=-1", "--webhooks-retry-for=1h", "--webhooks-disable-after=0")
	if err != nil || o.Timeout != 3*time.Second || o.MaxConcurrent != 8 || o.MaxConcurrentPerApp != -1 || !slices.Equal(o.Schedule.Steps, []time.Duration{time.Second, 2 * time.Second}) ||
		o.Schedule.For != time.Hour || o.DisableAfter >= 0 {
		t.Errorf("env and flags: %+v, %v", o, err)
	}
}
