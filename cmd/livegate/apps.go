package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
)

// tenantID is the pattern of account and app ids, as the API validates them.
var tenantID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// appsCreate creates an app in the store (the data dir's, or --database-url's; also while
// servers run on it: the store serializes the writers) and prints its credentials as one JSON object.
func appsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate apps create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := envString(fs, "data-dir", "LIVEGATE_DATA_DIR", "./data", "directory of the embedded SQLite database")
	databaseURL := databaseFlag(fs)
	account := fs.String("account", "", "account id (letters, digits, '-', '_'; at most 64)")
	app := fs.String("app", "", "app id (letters, digits, '-', '_'; at most 64)")
	create := fs.Bool("create", false, "create a new, empty SQLite database in --data-dir if there is none (the first app of an installation); without it, a --data-dir without a database is an error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for flagName, v := range map[string]string{"--account": *account, "--app": *app} {
		if !tenantID.MatchString(v) {
			return fmt.Errorf("%s %q: must be 1 to 64 letters, digits, '-' or '_'", flagName, v)
		}
	}
	db, err := server.OpenStore(ctx, server.StoreConfig{DatabaseURL: *databaseURL, DataDir: *dataDir, MustExist: !*create})
	if err != nil {
		return err
	}
	defer db.Close()

	creds, err := auth.CreateApp(ctx, db, store.Tenant{AccountID: *account, AppID: *app}, time.Now())
	if errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("app %s/%s already exists; its credentials were printed when it was created (livegate keeps only the token's hash): use them, or create another --app", *account, *app)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(creds)
}
