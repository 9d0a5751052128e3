// Command livegate is the livestream control plane: `livegate serve` runs it, and the other
// subcommands administer and inspect it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
)

const usage = `livegate — a livestream control plane with a typed, durable event feed.

Usage:
  livegate serve [flags]         serve gRPC and the RealtimeKit-compatible REST API
  livegate apps create [flags]   create an app (tenant) and print its API token and webhook secret
                                 (--create: also the database, for an installation's first app)
  livegate apps list [flags]     list the apps (no secrets)
  livegate apps rotate-token [flags]
                                 give an app a new API token; the old one stays valid for --grace
  livegate apps rotate-webhook-secret [flags]
                                 give an app a new webhook secret; the old one stays valid for --grace
  livegate apps delete --yes [flags]
                                 delete an app and all its data
  livegate events tail [flags]   follow an app's event feed over gRPC, resuming across restarts
  livegate rtmp nginx-conf [flags]
                                 print the nginx-rtmp configuration for livegate's RTMP ingest
  livegate bench ingest|feed|bare-server [flags]
                                 measure a running livegate: webhook deliveries/s and latency,
                                 feed deliveries/s to N subscribers, or serve the bare-decode ceiling
  livegate health [flags]        ask a running livegate's /readyz: exit 0 if ready, 1 if not
  livegate version               print the version, commit and Go version
  livegate help                  show this help

Run "livegate <command> -h" for a command's flags. Every flag can also be set from the
environment variable named in its help (a flag given on the command line wins).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var exit *exitError
		if errors.As(err, &exit) {
			if exit.msg != "" {
				fmt.Fprintln(os.Stderr, "livegate:", exit.msg)
			}
			os.Exit(exit.code)
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "livegate:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a command line to its subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "apps":
		sub := ""
		if len(args) >= 2 {
			sub = args[1]
		}
		switch sub {
		case "create":
			return appsCreate(ctx, args[2:], stdout, stderr)
		case "list":
			return appsList(ctx, args[2:], stdout, stderr)
		case "rotate-token":
			return appsRotate(ctx, sub, true, args[2:], stdout, stderr)
		case "rotate-webhook-secret":
			return appsRotate(ctx, sub, false, args[2:], stdout, stderr)
		case "delete":
			return appsDelete(ctx, args[2:], stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return errors.New(`"apps" needs a subcommand: create, list, rotate-token, rotate-webhook-secret, delete`)
	case "events":
		if len(args) < 2 || args[1] != "tail" {
			fmt.Fprint(stderr, usage)
			return errors.New(`"events" needs a subcommand: tail`)
		}
		return eventsTail(ctx, args[2:], stdout, stderr)
	case "rtmp":
		if len(args) < 2 || args[1] != "nginx-conf" {
			fmt.Fprint(stderr, usage)
			return errors.New(`"rtmp" needs a subcommand: nginx-conf`)
		}
		return rtmpNginxConf(ctx, args[2:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "health":
		return health(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return version(stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// databaseFlag defines --database-url (env LIVEGATE_DATABASE_URL), which every subcommand
// that opens the store takes: set, the PostgreSQL database livegate nodes share; unset,
// SQLite in --data-dir.
func databaseFlag(fs *flag.FlagSet) *string {
	return envSecret(fs, "database-url", "LIVEGATE_DATABASE_URL", "PostgreSQL URL (postgres://user:password@host:port/database?sslmode=...) of the database several livegate nodes share; unset: SQLite in --data-dir", redactDSN)
}

// envString defines a string flag whose default comes from an environment variable.
func envString(fs *flag.FlagSet, name, env, def, help string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	p := fs.String(name, def, fmt.Sprintf("%s (env %s)", help, env))
	flagEnv.Store(fs.Lookup(name), env)
	return p
}

// flagEnv is the environment variable of each flag envString declared (*flag.Flag: string).
var flagEnv sync.Map

// fromEnv makes an error about a flag's value ("--name ..." or "--name: ...") name the
// environment variable the value came from, when the flag was not given on the command line
// and its variable is set: a deployment that sets only variables (Compose, systemd) is
// told which one to fix. Other errors are returned as they are.
func fromEnv(fs *flag.FlagSet, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "--") {
		return err
	}
	end := strings.IndexAny(msg, " :")
	if end < 0 {
		return err
	}
	name := msg[2:end]
	f := fs.Lookup(name)
	if f == nil {
		return err
	}
	env, _ := flagEnv.Load(f)
	given := false
	fs.Visit(func(v *flag.Flag) { given = given || v == f })
	if _, set := os.LookupEnv(fmt.Sprint(env)); given || env == nil || !set {
		return err
	}
	return &envError{msg: fmt.Sprintf("%s (--%s)%s", env, name, msg[end:]), err: err}
}

// envError is an error about a flag's value, reworded to name its environment variable.
type envError struct {
	msg string
	err error
}

func (e *envError) Error() string { return e.msg }
func (e *envError) Unwrap() error { return e.err }

// envSecret is envString (with no default of its own) for a value that holds a secret: the
// usage that --help and every flag error print shows the value from the environment as show
// makes it (nil: only that it is set), never the secret itself.
func envSecret(fs *flag.FlagSet, name, env, help string, show func(string) string) *string {
	p := envString(fs, name, env, "", help)
	if f := fs.Lookup(name); f.DefValue != "" {
		if show == nil {
			f.DefValue = "<set in " + env + ">"
		} else {
			f.DefValue = show(f.DefValue)
		}
	}
	return p
}

// dsnPassword is a keyword/value connection string's password (PostgreSQL's libpq form:
// password=secret, or password='quoted secret').
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redactDSN is a PostgreSQL connection string (URL or keyword/value) with its password
// replaced, for showing.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
