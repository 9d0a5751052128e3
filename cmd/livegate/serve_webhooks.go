package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/services/webhookendpoint"
)

// webhooksOutFlags declares the flags (and env vars) of outbound webhooks; the returned
// function reads them once the flags are parsed.
func webhooksOutFlags(fs *flag.FlagSet) func() (server.WebhooksOut, error) {
	allowHTTP := envBool(fs, "webhooks-allow-http", "LIVEGATE_WEBHOOKS_ALLOW_HTTP",
		"let apps register http:// webhook URLs (development only: deliveries travel unencrypted)")
	allowPrivate := envBool(fs, "webhooks-allow-private", "LIVEGATE_WEBHOOKS_ALLOW_PRIVATE",
		"let webhook URLs reach loopback, private, link-local and other non-public addresses (development and tests only: an app could make livegate call the services behind it)")
	maxPerApp := envString(fs, "webhooks-max-per-app", "LIVEGATE_WEBHOOKS_MAX_PER_APP", strconv.Itoa(webhookendpoint.DefaultMaxPerApp),
		"outbound webhook endpoints one app may register; -1: no limit")
	return func() (server.WebhooksOut, error) {
		var w server.WebhooksOut
		for _, b := range []*boolFlag{allowHTTP, allowPrivate} {
			if b.err != nil {
				return w, b.err
			}
		}
		w.AllowHTTP, w.AllowPrivate = allowHTTP.v, allowPrivate.v
		var err error
		if w.MaxPerApp, err = strconv.Atoi(*maxPerApp); err != nil || w.MaxPerApp == 0 || w.MaxPerApp < -1 {
			return w, fmt.Errorf("--webhooks-max-per-app %q: must be a positive whole number, or -1 for no limit", *maxPerApp)
		}
		return w, nil
	}
}

// boolFlag is a boolean flag (`--name`, `--name=false`) whose default comes from an env var;
// a malformed env value is reported (err) when the flags are read, unless the flag is given.
type boolFlag struct {
	v   bool
	err error
}

func (b *boolFlag) String() string   { return strconv.FormatBool(b.v) }
func (b *boolFlag) IsBoolFlag() bool { return true }

func (b *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("must be true or false")
	}
	b.v, b.err = v, nil
	return nil
}

func envBool(fs *flag.FlagSet, name, env, help string) *boolFlag {
	b := &boolFlag{}
	if s, ok := os.LookupEnv(env); ok {
		if err := b.Set(s); err != nil {
			b.err = fmt.Errorf("%s %q (--%s): must be true or false", env, s, name)
		}
	}
	fs.Var(b, name, fmt.Sprintf("%s (env %s)", help, env))
	return b
}
