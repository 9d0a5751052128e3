package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/services/webhookendpoint"
)

// webhooksOutFlags declares the flags (and env vars) of outbound webhooks; the returned
// function reads them once the flags are parsed.
func webhooksOutFlags(fs *flag.FlagSet) func() (server.WebhooksOut, error) {
	allowHTTP := envString(fs, "webhooks-allow-http", "LIVEGATE_WEBHOOKS_ALLOW_HTTP", "false",
		"let apps register http:// webhook URLs (development only: deliveries travel unencrypted)")
	allowPrivate := envString(fs, "webhooks-allow-private", "LIVEGATE_WEBHOOKS_ALLOW_PRIVATE", "false",
		"let webhook URLs reach loopback, private, link-local and other non-public addresses (development and tests only: an app could make livegate call the services behind it)")
	maxPerApp := envString(fs, "webhooks-max-per-app", "LIVEGATE_WEBHOOKS_MAX_PER_APP", strconv.Itoa(webhookendpoint.DefaultMaxPerApp),
		"outbound webhook endpoints one app may register; -1: no limit")
	return func() (server.WebhooksOut, error) {
		var w server.WebhooksOut
		var err error
		if w.AllowHTTP, err = strconv.ParseBool(*allowHTTP); err != nil {
			return w, fmt.Errorf("--webhooks-allow-http %q: must be true or false", *allowHTTP)
		}
		if w.AllowPrivate, err = strconv.ParseBool(*allowPrivate); err != nil {
			return w, fmt.Errorf("--webhooks-allow-private %q: must be true or false", *allowPrivate)
		}
		if w.MaxPerApp, err = strconv.Atoi(*maxPerApp); err != nil || w.MaxPerApp == 0 || w.MaxPerApp < -1 {
			return w, fmt.Errorf("--webhooks-max-per-app %q: must be a positive whole number, or -1 for no limit", *maxPerApp)
		}
		return w, nil
	}
}
