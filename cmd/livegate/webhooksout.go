package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/livegate/livegate/internal/outbound"
)

// webhooksDeliveryFlags declares the flags (and env vars) of outbound webhook delivery
// (server.WebhooksOut.Delivery; the policy flags are webhooksOutFlags'); the returned
// function reads them once parsed.
func webhooksDeliveryFlags(fs *flag.FlagSet) func() (outbound.Options, error) {
	timeout := envString(fs, "webhooks-timeout", "LIVEGATE_WEBHOOKS_TIMEOUT", outbound.DefaultTimeout.String(), "bound on one outbound webhook request (connect, send, answer)")
	maxConc := envString(fs, "webhooks-max-concurrent", "LIVEGATE_WEBHOOKS_MAX_CONCURRENT", strconv.Itoa(outbound.DefaultMaxConcurrent), "outbound webhook requests in flight at once, across all endpoints (each endpoint has at most one delivery and one test ping)")
	maxConcApp := envString(fs, "webhooks-max-concurrent-per-app", "LIVEGATE_WEBHOOKS_MAX_CONCURRENT_PER_APP", strconv.Itoa(outbound.DefaultMaxConcurrentPerApp), "of those, requests in flight to one app's endpoints (an app whose receivers hang holds no more); -1: no bound of its own")
	steps := envString(fs, "webhooks-retry-schedule", "LIVEGATE_WEBHOOKS_RETRY_SCHEDULE", outbound.DefaultScheduleFlag, "waits between the attempts at a failed delivery (±10 % jitter), the last one repeating")
	retryFor := envString(fs, "webhooks-retry-for", "LIVEGATE_WEBHOOKS_RETRY_FOR", outbound.DefaultSchedule().For.String(), "a failed delivery is retried until this long after its first attempt, then given up")
	disable := envString(fs, "webhooks-disable-after", "LIVEGATE_WEBHOOKS_DISABLE_AFTER", outbound.DefaultDisableAfter.String(), "disable an endpoint whose attempts have all failed for this long (a webhook_endpoint.disabled event says so); 0: never")
	leaseRetry := envString(fs, "webhooks-lease-retry", "LIVEGATE_WEBHOOKS_LEASE_RETRY", outbound.DefaultLeaseRetry.String(), "with --database-url: how often a node counts the nodes, tries to take free delivery slots (up to its share) and hands over those beyond its share (a dead node's endpoints are taken over within about this long)")
	logRetention := envString(fs, "webhooks-log-retention", "LIVEGATE_WEBHOOKS_LOG_RETENTION", outbound.DefaultLogRetention.String(), "delete outbound webhook delivery log entries (GET webhooks/{id}/deliveries) older than this; 0 keeps them")
	return func() (outbound.Options, error) {
		var o outbound.Options
		var err error
		if o.Timeout, err = time.ParseDuration(*timeout); err != nil || o.Timeout <= 0 {
			return o, fmt.Errorf("--webhooks-timeout %q: must be a positive duration such as 10s", *timeout)
		}
		if o.MaxConcurrent, err = strconv.Atoi(*maxConc); err != nil || o.MaxConcurrent <= 0 {
			return o, fmt.Errorf("--webhooks-max-concurrent %q: must be a positive whole number", *maxConc)
		}
		if o.MaxConcurrentPerApp, err = strconv.Atoi(*maxConcApp); err != nil || o.MaxConcurrentPerApp == 0 || o.MaxConcurrentPerApp < -1 {
			return o, fmt.Errorf("--webhooks-max-concurrent-per-app %q: must be a positive whole number, or -1 for no bound of its own", *maxConcApp)
		}
		if o.Schedule.Steps, err = outbound.ParseSteps(*steps); err != nil {
			return o, fmt.Errorf("--webhooks-retry-schedule: %w", err)
		}
		o.Schedule.Jitter = outbound.DefaultSchedule().Jitter
		if o.Schedule.For, err = time.ParseDuration(*retryFor); err != nil || o.Schedule.For <= 0 {
			return o, fmt.Errorf("--webhooks-retry-for %q: must be a positive duration such as 24h", *retryFor)
		}
		if o.DisableAfter, err = time.ParseDuration(*disable); err != nil || o.DisableAfter < 0 {
			return o, fmt.Errorf("--webhooks-disable-after %q: must be a duration such as 120h, or 0", *disable)
		}
		if o.LeaseRetry, err = time.ParseDuration(*leaseRetry); err != nil || o.LeaseRetry <= 0 {
			return o, fmt.Errorf("--webhooks-lease-retry %q: must be a positive duration such as 10s", *leaseRetry)
		}
		if o.LogRetention, err = time.ParseDuration(*logRetention); err != nil || o.LogRetention < 0 {
			return o, fmt.Errorf("--webhooks-log-retention %q: must be a duration such as 168h, or 0", *logRetention)
		}
		if o.LogRetention == 0 {
			o.LogRetention = -1 // outbound.Options' "forever"
		}
		if o.DisableAfter == 0 {
			o.DisableAfter = -1 // outbound.Options' "never"
		}
		return o, nil
	}
}
