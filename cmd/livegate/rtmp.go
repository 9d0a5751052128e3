package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/livegate/livegate/internal/nginxconf"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/server"
)

// rtmpNginxConf prints the nginx configuration that makes nginx-rtmp livegate's RTMP ingest:
// callbacks carrying this installation's callback secret (read from, or created in, the
// data dir's store), HLS output where the playback URLs point.
func rtmpNginxConf(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate rtmp nginx-conf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: livegate rtmp nginx-conf [flags] > nginx.conf

Prints a complete nginx configuration for nginx with the RTMP module, pointing its callbacks
at livegate. Run it with:

  nginx -c "$PWD/nginx.conf" -p PREFIX -g 'daemon off;'

and run livegate with the --ingest-base and --playback-base the configuration's first lines
name. The configuration holds the callback secret: keep it as private as the data dir.

Flags:
`)
		fs.PrintDefaults()
	}
	dataDir := envString(fs, "data-dir", "LIVEGATE_DATA_DIR", "./data", "directory of the embedded SQLite database (holds the callback secret)")
	databaseURL := databaseFlag(fs)
	livegateURL := envString(fs, "livegate-url", "LIVEGATE_URL", "http://127.0.0.1:8080", "livegate's REST address as nginx reaches it (plain http)")
	rtmpListen := envString(fs, "rtmp-listen", "LIVEGATE_RTMP_LISTEN", "1935", "nginx's RTMP listen address: port or host:port")
	httpListen := envString(fs, "http-listen", "LIVEGATE_HTTP_LISTEN", "8081", "nginx's HLS HTTP listen address: port or host:port")
	hlsDir := envString(fs, "hls-dir", "LIVEGATE_HLS_DIR", "", "absolute directory for the HLS output, dedicated to nginx, which its workers can reach (required)")
	module := envString(fs, "rtmp-module", "LIVEGATE_RTMP_MODULE", nginxconf.DefaultModule, "path of nginx's RTMP module")
	out := fs.String("out", "", "write the configuration to this file (mode 0600, replaced atomically) instead of stdout")
	user := envString(fs, "user", "LIVEGATE_NGINX_USER", "", "user nginx's workers run as when nginx starts as root (must be able to write --hls-dir); empty: nginx's default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := nginxconf.Config{
		LivegateURL: *livegateURL,
		RTMPListen:  *rtmpListen,
		HTTPListen:  *httpListen,
		HLSDir:      *hlsDir,
		Module:      *module,
		User:        *user,
	}
	if err := cfg.ValidateFlags(); err != nil { // before touching the store
		return err
	}
	if *databaseURL == "" {
		if err := hlsApartFromData(*hlsDir, *dataDir); err != nil {
			return err
		}
	}

	db, err := server.OpenStore(ctx, server.StoreConfig{DatabaseURL: *databaseURL, DataDir: *dataDir})
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.CallbackSecret, err = rtmp.CallbackSecret(ctx, db); err != nil {
		return err
	}
	if *out == "" {
		return nginxconf.Write(stdout, cfg)
	}
	var buf bytes.Buffer
	if err := nginxconf.Write(&buf, cfg); err != nil {
		return err
	}
	return writeFileAtomic(*out, buf.Bytes())
}

// hlsApartFromData refuses an HLS directory that is the SQLite data dir, lies inside it, or
// holds it: nginx chowns its HLS directory to its workers' user when started as root, and
// deletes playlists, fragments and empty directories anywhere in it, and serves what lies
// in it over HTTP, while the data dir holds the database with every secret (0700).
func hlsApartFromData(hlsDir, dataDir string) error {
	hls, data := realPath(hlsDir), realPath(dataDir)
	if within(hls, data) || within(data, hls) {
		return fmt.Errorf("--hls-dir: %q overlaps the data dir %q: nginx takes over its HLS directory (it chowns it to its workers' user and serves and deletes what is in it); give it a directory of its own, outside the data dir", hlsDir, dataDir)
	}
	return nil
}

// realPath is p made absolute and clean, with the symbolic links of its longest existing
// leading part resolved (the rest may not exist yet).
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	var rest []string
	for dir := abs; ; dir = filepath.Dir(dir) {
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(append([]string{resolved}, rest...)...)
		}
		if dir == filepath.Dir(dir) {
			return abs
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
	}
}

// within reports whether path is dir or lies inside it (both absolute and clean).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// writeFileAtomic replaces path with data (mode 0600: it holds a secret), so that a reader
// sees the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("--out: write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("--out: sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
