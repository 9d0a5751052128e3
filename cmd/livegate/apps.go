package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"regexp"
	"time"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
)

// tenantID is the pattern of account and app ids, as the API validates them.
var tenantID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// The `livegate apps` subcommands work on the store (the data dir's, or --database-url's),
// also while servers run on it: the store serializes the writers, and the servers read
// credentials from the store on every call. Each write is recorded in the admin audit log
// with the actor "cli:<OS user>".

// appsFlags are the flags every apps subcommand takes.
type appsFlags struct {
	fs          *flag.FlagSet
	dataDir     *string
	databaseURL *string
	account     *string
	app         *string
}

func newAppsFlags(name string, stderr io.Writer, tenant bool) *appsFlags {
	fs := flag.NewFlagSet("livegate apps "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &appsFlags{fs: fs}
	f.dataDir = envString(fs, "data-dir", "LIVEGATE_DATA_DIR", "./data", "directory of the embedded SQLite database")
	f.databaseURL = databaseFlag(fs)
	if tenant {
		f.account = fs.String("account", "", "account id (letters, digits, '-', '_'; at most 64)")
		f.app = fs.String("app", "", "app id (letters, digits, '-', '_'; at most 64)")
	}
	return f
}

// parse parses args and checks the tenant flags.
func (f *appsFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.fs.Arg(0))
	}
	if f.account == nil {
		return nil
	}
	for flagName, v := range map[string]string{"--account": *f.account, "--app": *f.app} {
		if !tenantID.MatchString(v) {
			return fmt.Errorf("%s %q: must be 1 to 64 letters, digits, '-' or '_'", flagName, v)
		}
	}
	return nil
}

func (f *appsFlags) tenant() store.Tenant {
	return store.Tenant{AccountID: *f.account, AppID: *f.app}
}

// open opens the store; create allows a new, empty SQLite database.
func (f *appsFlags) open(ctx context.Context, create bool) (store.Store, error) {
	return server.OpenStore(ctx, server.StoreConfig{DatabaseURL: *f.databaseURL, DataDir: *f.dataDir, MustExist: !create})
}

// where names the store for messages.
func (f *appsFlags) where() string {
	return server.StoreConfig{DatabaseURL: *f.databaseURL, DataDir: *f.dataDir}.Describe()
}

// notFound is the message for an app that does not exist.
func (f *appsFlags) notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		t := f.tenant()
		return fmt.Errorf("no app %s/%s in %s (see `livegate apps list`)", t.AccountID, t.AppID, f.where())
	}
	return err
}

// cliActor is who the audit log says acted for a command line.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func manager(db store.Store) auth.Manager { return auth.Manager{Store: db, Actor: cliActor()} }

// appsCreate creates an app and prints its credentials as one JSON object.
func appsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAppsFlags("create", stderr, true)
	create := f.fs.Bool("create", false, "create a new, empty SQLite database in --data-dir if there is none (the first app of an installation); without it, a --data-dir without a database is an error")
	if err := f.parse(args); err != nil {
		return err
	}
	db, err := f.open(ctx, *create)
	if err != nil {
		return err
	}
	defer db.Close()

	t := f.tenant()
	creds, err := manager(db).Create(ctx, t)
	if errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("app %s/%s already exists; its credentials were printed when it was created (livegate keeps only the token's hash): use them, rotate them (`livegate apps rotate-token`), or create another --app", t.AccountID, t.AppID)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(creds)
}

// appListing is one line of `apps list`: no secret, no hash.
type appListing struct {
	AccountID string    `json:"account_id"`
	AppID     string    `json:"app_id"`
	CreatedAt time.Time `json:"created_at"`
	// When a rotated credential stops being accepted, while it still is.
	PreviousTokenValidUntil         *time.Time `json:"previous_token_valid_until,omitempty"`
	PreviousWebhookSecretValidUntil *time.Time `json:"previous_webhook_secret_valid_until,omitempty"`
}

// listing is what `apps list` and the admin API show of an app at now.
func listing(a store.App, now time.Time) appListing {
	l := appListing{AccountID: a.AccountID, AppID: a.AppID, CreatedAt: a.CreatedAt.UTC()}
	if a.PrevTokenID != "" && now.Before(a.PrevTokenExpiresAt) {
		t := a.PrevTokenExpiresAt.UTC()
		l.PreviousTokenValidUntil = &t
	}
	if a.PrevWebhookSecret != "" && now.Before(a.PrevWebhookSecretExpiresAt) {
		t := a.PrevWebhookSecretExpiresAt.UTC()
		l.PreviousWebhookSecretValidUntil = &t
	}
	return l
}

// appsList prints every app, one JSON object a line, ordered by account and app.
func appsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAppsFlags("list", stderr, false)
	if err := f.parse(args); err != nil {
		return err
	}
	db, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	apps, err := manager(db).List(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	now := time.Now()
	for _, a := range apps {
		if err := enc.Encode(listing(a, now)); err != nil {
			return err
		}
	}
	return nil
}

// appsRotate rotates the API token (token true) or the webhook secret of an app, prints the
// new one as JSON, and says on stderr until when the previous one stays valid.
func appsRotate(ctx context.Context, name string, token bool, args []string, stdout, stderr io.Writer) error {
	f := newAppsFlags(name, stderr, true)
	what := "webhook secret"
	if token {
		what = "API token"
	}
	grace := f.fs.Duration("grace", auth.DefaultGrace, "how long the previous "+what+" stays valid (0: revoke it at once); an earlier one still in its grace is revoked now")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := auth.CheckGrace(*grace); err != nil {
		return fmt.Errorf("--%w", err) // before touching the store
	}
	db, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	m := manager(db)
	var r auth.Rotated
	if token {
		r, err = m.RotateToken(ctx, f.tenant(), *grace)
	} else {
		r, err = m.RotateWebhookSecret(ctx, f.tenant(), *grace)
	}
	if err != nil {
		return f.notFound(err)
	}
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return err
	}
	if r.PreviousValidUntil != nil {
		fmt.Fprintf(stderr, "livegate: the previous %s of %s/%s stays valid until %s\n", what, r.AccountID, r.AppID, r.PreviousValidUntil.Format(time.RFC3339))
	} else {
		fmt.Fprintf(stderr, "livegate: the previous %s of %s/%s is revoked\n", what, r.AccountID, r.AppID)
	}
	return nil
}

// appsDelete deletes an app and all its data, once confirmed with --yes.
func appsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAppsFlags("delete", stderr, true)
	yes := f.fs.Bool("yes", false, "confirm: delete the app, its credentials, and all its livestreams, sessions, recordings and events")
	if err := f.parse(args); err != nil {
		return err
	}
	t := f.tenant()
	if !*yes {
		return fmt.Errorf("apps delete removes app %s/%s and all its livestreams, sessions, recordings and events, and its token stops working at once: pass --yes to confirm", t.AccountID, t.AppID)
	}
	db, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := manager(db).Delete(ctx, t); err != nil {
		return f.notFound(err)
	}
	fmt.Fprintf(stdout, "deleted app %s/%s\n", t.AccountID, t.AppID)
	return nil
}
