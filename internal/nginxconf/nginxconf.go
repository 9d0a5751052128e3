// Package nginxconf renders the nginx configuration that makes nginx with the RTMP module
// (github.com/arut/nginx-rtmp-module, Debian's libnginx-mod-rtmp) livegate's media server:
// publishers push RTMP to rtmp://RTMP-ADDR/live/STREAM-KEY, nginx-rtmp asks livegate about
// every publish and play over its HTTP notify callbacks, livegate renames each published
// stream from its stream key to its livestream id (answering on_publish with a 3xx
// redirect), nginx relays it under that name to the `watch` application, where RTMP players
// play it, and serves the HLS it cuts there under
// http://HTTP-ADDR/hls/<livestream id>/index.m3u8.
//
// The configuration is complete: `nginx -c FILE -p PREFIX -g 'daemon off;'` runs it as it
// is, as root or not. Everything nginx writes besides the HLS output (the pid file, the HTTP
// temp directories) goes under PREFIX, and all logging goes to stderr.
//
// Facts about nginx-rtmp 1.2.2 the configuration relies on (checked against its source and
// a real nginx):
//   - The notify callbacks are plain HTTP/1.0 requests (no https) to a host nginx resolves
//     once, when it loads the configuration. With notify_method post the fields are an
//     application/x-www-form-urlencoded body: call, app, name, addr, clientid, flashver,
//     swfurl, tcurl, pageurl, plus type for publish, start/duration/reset for play, and
//     time/timestamp for update, then the client's own query string arguments.
//   - on_publish and on_play answered 2xx allow, 3xx with a Location that is not rtmp://
//     rename the stream to the Location's value (an rtmp:// Location makes nginx relay
//     instead: livegate must never answer that), anything else refuses. The rename changes
//     the name the live module (players) and relays use, but not the name HLS uses (the
//     HLS module runs before the notify module in the publish chain, so it would cut HLS
//     under the stream key: hence the relay to `watch`, which cuts it under the new name),
//     nor the name the later callbacks carry: on_update, on_publish_done and on_play_done
//     report the name the client asked for (the stream key), not the new one.
//   - nginx-rtmp makes the play callbacks for the local session of its own relays too
//     (on_play, on_update as call=update_play, on_play_done, with app empty,
//     flashver=ngx-local-relay and addr=<relay target>/watch), and drops the relay if one is
//     refused: the ingest application therefore has no on_play and no on_update, so livegate
//     never has to tell the relay from a player. In watch, on_update reports the relay's
//     publish session (call=update_publish, name=<livestream id>) besides the players.
//   - A client of a [::] listener has addr=::ffff:a.b.c.d when it comes over IPv4.
//   - on_update answered 4xx or 5xx disconnects the client; if livegate cannot be reached
//     the client stays and nginx tries again UpdateInterval later. Answers to
//     on_publish_done and on_play_done are ignored.
//   - With hls_cleanup on (the default) nginx's cache manager process deletes, every two
//     playlist lengths, .ts and .key files older than two playlist lengths, .m3u8 files
//     older than one, and empty directories, anywhere under hls_path; at start-up nginx
//     creates hls_path and, as root, chowns it to the worker user. HLSDir must be a
//     directory nginx owns and nothing else uses.
package nginxconf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// App is the RTMP application publishers push to: rtmp://RTMP-ADDR/live/STREAM-KEY.
const App = "live"

// PlayApp is the RTMP application players play from: rtmp://RTMP-ADDR/watch/<livestream id>.
// It is also where the HLS is cut: nginx relays each published stream to it under its new
// name, the livestream id.
const PlayApp = "watch"

// HLSPath is the URL path prefix of the HLS output: http://HTTP-ADDR/hls/<livestream id>/index.m3u8.
const HLSPath = "/hls"

// UpdateInterval is notify_update_timeout: how often nginx-rtmp calls on_update for each client.
const UpdateInterval = 30 * time.Second

// DefaultModule is Debian's path of the RTMP module.
const DefaultModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// HLS timing: fragments of about hlsFragment (cut at the first key frame after it), and a
// live playlist of about hlsPlaylistLength, that is eight fragments.
const (
	hlsFragment       = 2 * time.Second
	hlsPlaylistLength = 16 * time.Second
	// dropIdlePublisher disconnects a publisher that has sent nothing for this long, so
	// that a dead encoder does not hold the stream name (and livegate gets on_publish_done).
	dropIdlePublisher = 10 * time.Second
)

// Config is what the nginx configuration is made of. Each field is one flag of
// `livegate rtmp nginx-conf`, the secret excepted.
type Config struct {
	// LivegateURL is livegate's REST address as nginx reaches it: http://host:port.
	// nginx-rtmp speaks plain HTTP only; the path must be empty or "/", and there must be
	// no query. A host name is resolved once, when nginx loads the configuration.
	LivegateURL string
	// CallbackSecret goes into the callback URLs: LivegateURL + "/rtmp/" + secret +
	// "/on_publish" and so on. It must be URL-path-safe: 16 to 128 of [A-Za-z0-9_-].
	CallbackSecret string
	// RTMPListen is nginx rtmp's `listen`: "host:port" or "port" (127.0.0.1:1935, 1935,
	// 0.0.0.0:1935, [::1]:1935). A host must be an IPv4 address, a bracketed IPv6 address
	// or "*": nginx relays each stream to itself at this address (the loopback address for
	// a wildcard), and only that address may publish to PlayApp.
	RTMPListen string
	// HTTPListen is nginx http's `listen` for the HLS server, in the same forms, or with a
	// host name nginx resolves at start-up.
	HTTPListen string
	// HLSDir is the absolute directory nginx-rtmp writes HLS to (hls_path), one directory
	// per stream (HLSDir/<livestream id>/index.m3u8), served under HLSPath. nginx creates
	// it if its parent exists, chowns it to the worker user when started as root, and
	// deletes old playlists, fragments and empty directories anywhere in it: it must be
	// dedicated to this nginx.
	HLSDir string
	// Module is the absolute path of ngx_rtmp_module.so; empty means DefaultModule.
	Module string
	// User is the optional `user` directive: the user nginx's worker processes run as
	// (with the group of the same name) when nginx is started as root; empty leaves it
	// out, and a root nginx then runs its workers as nobody. The workers are what write
	// HLSDir (and its per-stream directories) and read it to serve HLS, so when HLSDir
	// lies under a directory nobody cannot enter (a home directory, a 0700 temporary
	// directory) set User to a user who can. Without root nginx ignores it, with a warning.
	User string
}

// Validate checks every field. Its error names the flag at fault, for example
// `--hls-dir: must be an absolute path, got "hls"`. No value can add to or break the
// nginx syntax: whitespace, quotes, ';', '{', '}', '#', '$', '\' and control characters
// are refused everywhere.
func (c Config) Validate() error {
	var errs []error
	if err := validateSecret(c.CallbackSecret); err != nil {
		errs = append(errs, fmt.Errorf("callback secret: %w", err))
	}
	return errors.Join(append(errs, c.ValidateFlags())...)
}

// ValidateFlags checks every field but the callback secret: the flags of
// `livegate rtmp nginx-conf`, checked before it reads the secret from the store.
func (c Config) ValidateFlags() error {
	var errs []error
	add := func(flag string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	add("--livegate-url", validateLivegateURL(c.LivegateURL))
	rtmp, rtmpErr := parseListen(c.RTMPListen)
	add("--rtmp-listen", rtmpErr)
	http, httpErr := parseListen(c.HTTPListen)
	add("--http-listen", httpErr)
	if rtmpErr == nil && httpErr == nil && rtmp.port == http.port &&
		(rtmp.host == http.host || rtmp.wildcard() || http.wildcard()) {
		add("--http-listen", fmt.Errorf("%q uses the port of --rtmp-listen %q", c.HTTPListen, c.RTMPListen))
	}
	if rtmpErr == nil && !rtmp.wildcard() && net.ParseIP(rtmp.host) == nil {
		add("--rtmp-listen", fmt.Errorf("the host must be an IP address (the relay to the %s application is allowed by address), got %q", PlayApp, c.RTMPListen))
	}
	add("--hls-dir", validateHLSDir(c.HLSDir))
	if c.Module != "" {
		add("--rtmp-module", validatePath(c.Module))
	}
	if c.User != "" {
		add("--user", validateUser(c.User))
	}
	return errors.Join(errs...)
}

// Write validates c and writes the nginx configuration to w.
func Write(w io.Writer, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	module := c.Module
	if module == "" {
		module = DefaultModule
	}
	callback := strings.TrimSuffix(c.LivegateURL, "/") + "/rtmp/" + c.CallbackSecret + "/"
	hlsDir := filepath.Clean(c.HLSDir)
	return confTemplate.Execute(w, map[string]any{
		"IngestBase":        c.IngestBase(),
		"PlaybackBase":      c.PlaybackBase(),
		"Module":            module,
		"User":              c.User,
		"RTMPListen":        c.RTMPListen,
		"HTTPListen":        c.HTTPListen,
		"App":               App,
		"PlayApp":           PlayApp,
		"RelayTarget":       relayTarget(c.RTMPListen),
		"RelaySource":       relaySource(c.RTMPListen),
		"Callback":          callback,
		"UpdateInterval":    duration(UpdateInterval),
		"HLSDir":            hlsDir,
		"HLSFragment":       duration(hlsFragment),
		"HLSPlaylistLength": duration(hlsPlaylistLength),
		"DropIdlePublisher": duration(dropIdlePublisher),
		"HLSLocation":       HLSPath + "/",
	})
}

// IngestBase is the `livegate serve --ingest-base` that pairs with c:
// "rtmp://" + the host:port of RTMPListen + "/" + App, with "localhost" for an empty or
// wildcard host. It is meaningful only for a Config that validates.
func (c Config) IngestBase() string {
	return "rtmp://" + reachable(c.RTMPListen) + "/" + App
}

// PlaybackBase is the `livegate serve --playback-base` that pairs with c:
// "http://" + the host:port of HTTPListen + HLSPath, with "localhost" for an empty or
// wildcard host. It is meaningful only for a Config that validates.
func (c Config) PlaybackBase() string {
	return "http://" + reachable(c.HTTPListen) + HLSPath
}

// reachable is the host:port a client on this machine dials to reach listen.
func reachable(listen string) string {
	l, err := parseListen(listen)
	if err != nil {
		return listen
	}
	host := l.host
	if l.wildcard() {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(l.port))
}

// relayTarget is the host:port the ingest application's relay pushes to: this nginx's own
// RTMP listener (loopback when it listens on every address).
func relayTarget(listen string) string {
	l, _ := parseListen(listen)
	return net.JoinHostPort(relaySource(listen), strconv.Itoa(l.port))
}

// relaySource is the address the relay connects from, the only one allowed to publish to
// PlayApp: the address it connects to, as both are this machine's.
func relaySource(listen string) string {
	l, _ := parseListen(listen)
	switch {
	case l.host == "::":
		// [::] may not take IPv4 (net.ipv6.bindv6only).
		return "::1"
	case l.wildcard():
		return "127.0.0.1"
	}
	return l.host
}

// duration renders d in nginx's time syntax: "30s", "1500ms".
func duration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// checkChars refuses what would end, split or comment out an nginx directive's argument, or
// start a variable: whitespace, quotes, ';', '{', '}', '#', '$', '\' and control characters.
func checkChars(s string) error {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`;{}#$"'\`+"`", r) {
			return fmt.Errorf("must not contain whitespace, quotes, control characters or any of ;{}#$\\, got %q", s)
		}
	}
	return nil
}

func validateLivegateURL(s string) error {
	if s == "" {
		return errors.New("is required: livegate's address as nginx reaches it, such as http://127.0.0.1:8080")
	}
	if err := checkChars(s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("must be an http://host:port URL, got %q: %v", s, err)
	}
	switch {
	case u.Scheme == "https":
		return fmt.Errorf("nginx-rtmp calls back over plain HTTP only: must be http://, got %q", s)
	case u.Scheme != "http":
		return fmt.Errorf("must be an http://host:port URL, got %q", s)
	case u.Opaque != "" || u.Host == "":
		return fmt.Errorf("must be an http://host:port URL with a host, got %q", s)
	case u.User != nil:
		return fmt.Errorf("must not contain user information, got %q", s)
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return fmt.Errorf("must have no path (the callbacks are under /rtmp/), got %q", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("must have no query or fragment, got %q", s)
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Errorf("bad IPv6 address in %q", s)
		}
	} else if net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return fmt.Errorf("bad host %q in %q", host, s)
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return fmt.Errorf("bad port in %q: %v", s, err)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("empty port in %q", s)
	}
	return nil
}

var (
	secretRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
	userRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
)

func validateSecret(s string) error {
	// The secret itself stays out of the message: it ends up in logs.
	if !secretRE.MatchString(s) {
		return fmt.Errorf("must be 16 to 128 characters of A-Z, a-z, 0-9, '_' and '-' (got %d characters)", len(s))
	}
	return nil
}

// listen is a validated listen address. host is "" for the port-only form; an IPv6
// address is kept without its brackets.
type listen struct {
	host string
	port int
}

// wildcard reports whether l listens on every address.
func (l listen) wildcard() bool {
	switch l.host {
	case "", "*", "0.0.0.0", "::":
		return true
	}
	return false
}

func parseListen(s string) (listen, error) {
	if s == "" {
		return listen{}, errors.New(`is required: "host:port" or "port"`)
	}
	if err := checkChars(s); err != nil {
		return listen{}, err
	}
	if !strings.Contains(s, ":") {
		port, err := parsePort(s)
		if err != nil {
			return listen{}, fmt.Errorf(`must be "host:port" or "port", got %q: %v`, s, err)
		}
		return listen{port: port}, nil
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return listen{}, fmt.Errorf(`must be "host:port" or "port" (IPv6 in brackets: [::1]:1935), got %q`, s)
	}
	port, err := parsePort(p)
	if err != nil {
		return listen{}, fmt.Errorf("bad port in %q: %v", s, err)
	}
	switch {
	case host == "":
		return listen{}, fmt.Errorf(`empty host in %q: give only the port to listen on every address`, s)
	case strings.HasPrefix(s, "["):
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil || strings.Contains(host, ".") {
			return listen{}, fmt.Errorf("bad IPv6 address in %q", s)
		}
	case host == "*":
	case net.ParseIP(host) != nil:
		if strings.Contains(host, ":") {
			return listen{}, fmt.Errorf("an IPv6 address must be in brackets: [%s]:%s, got %q", host, p, s)
		}
	case !hostnameRE.MatchString(host):
		return listen{}, fmt.Errorf("bad host %q in %q", host, s)
	}
	return listen{host: host, port: port}, nil
}

func parsePort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("port must be a number from 1 to 65535, got %q", s)
	}
	return port, nil
}

func validatePath(s string) error {
	if err := checkChars(s); err != nil {
		return err
	}
	if !filepath.IsAbs(s) {
		return fmt.Errorf("must be an absolute path, got %q", s)
	}
	return nil
}

func validateHLSDir(s string) error {
	if s == "" {
		return errors.New("is required: the absolute directory nginx writes HLS to")
	}
	if err := validatePath(s); err != nil {
		return err
	}
	if filepath.Clean(s) == "/" {
		// nginx-rtmp's HLS cleanup deletes old .ts/.m3u8 files and empty directories
		// anywhere under hls_path.
		return fmt.Errorf("must be a directory dedicated to nginx's HLS output, got %q", s)
	}
	return nil
}

func validateUser(s string) error {
	if err := checkChars(s); err != nil {
		return err
	}
	if !userRE.MatchString(s) || len(s) > 64 {
		return fmt.Errorf("must be a user name (letters, digits, '.', '_', '-'), got %q", s)
	}
	return nil
}

var confTemplate = template.Must(template.New("nginx.conf").Parse(`# nginx configuration for livegate: RTMP ingest (nginx-rtmp) and HLS playback.
# Generated by ` + "`livegate rtmp nginx-conf`" + `; regenerate it rather than edit it.
#
# Run it with (PREFIX is an existing directory nginx can write to: the pid file and
# the HTTP temporary directories go there):
#
#   nginx -c FILE -p PREFIX -g 'daemon off;'
#
# and run livegate with:
#
#   livegate serve --ingest-base {{.IngestBase}} --playback-base {{.PlaybackBase}}
#
# Publishers push to {{.IngestBase}}/STREAM-KEY; viewers play
# {{.PlaybackBase}}/LIVESTREAM-ID/index.m3u8.
#
# WARNING: this file contains livegate's RTMP callback secret (in the on_* URLs below).
# Whoever reads it can forge nginx-rtmp callbacks to livegate: keep it private.

load_module {{.Module}};
{{- if .User}}

# The user the worker processes run as when nginx is started as root. They write and
# serve the HLS files.
user {{.User}};
{{- end}}

# One worker: nginx-rtmp's live streams live in one worker process's memory, so a
# publisher and its players must meet in the same worker.
worker_processes 1;
# Relative to PREFIX. daemon and master_process are left to the command line.
pid nginx.pid;
error_log stderr notice;

events {
    worker_connections 1024;
}

rtmp {
    # One line per RTMP session is not worth a file outside PREFIX; livegate gets every
    # publish and play through the callbacks below.
    access_log off;

    server {
        listen {{.RTMPListen}};
        chunk_size 4096;

        # Ingest. livegate decides who may publish, and renames a published stream from
        # its stream key to its livestream id (on_publish answers 3xx, Location: the id).
        # The secret path segment proves the caller is this nginx.
        application {{.App}} {
            live on;
            record off;
            # Stop a publisher that sends nothing, so the stream ends (on_publish_done).
            drop_idle_publisher {{.DropIdlePublisher}};
            # Nobody plays here: players go to {{.PlayApp}}, where livegate counts them.
            deny play all;

            notify_method post;
            on_publish {{.Callback}}on_publish;
            on_publish_done {{.Callback}}on_publish_done;

            # nginx-rtmp's HLS takes the stream's name before on_publish renames it, so HLS
            # is cut in {{.PlayApp}}, from this local relay, which carries the new name.
            # (No on_play or on_update here: nginx-rtmp would make them for this relay
            # too, and drop the relay if livegate refused one.)
            push rtmp://{{.RelayTarget}}/{{.PlayApp}};
        }

        # Playback: the relayed streams, under their livestream ids. RTMP players play
        # rtmp://HOST/{{.PlayApp}}/<livestream id>; livegate counts their time through
        # on_play/on_play_done. on_update reports every player, and the relay, so that
        # livegate knows that the publisher is still there.
        application {{.PlayApp}} {
            live on;
            record off;
            allow publish {{.RelaySource}};
            deny publish all;

            notify_method post;
            on_play {{.Callback}}on_play;
            on_play_done {{.Callback}}on_play_done;
            on_update {{.Callback}}on_update;
            notify_update_timeout {{.UpdateInterval}};

            # HLS: {{.HLSDir}}/<livestream id>/index.m3u8 and its .ts fragments. nginx
            # deletes old fragments and playlists in {{.HLSDir}} by itself (hls_cleanup).
            hls on;
            hls_path {{.HLSDir}};
            hls_nested on;
            hls_fragment {{.HLSFragment}};
            hls_playlist_length {{.HLSPlaylistLength}};
        }
    }
}

http {
    # Temporary files under PREFIX rather than /var/lib/nginx, so that nginx needs no root.
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;

    # Every HLS player fetches the playlist every few seconds and a fragment as often:
    # an access log would be nearly all that noise. Errors still go to error_log.
    access_log off;
    server_tokens off;

    server {
        listen {{.HTTPListen}};

        location {{.HLSLocation}} {
            alias {{.HLSDir}}/;
            types {
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
            # Players ask for a playlist before its first fragment is cut.
            log_not_found off;
        }

        location / {
            return 404;
        }
    }
}
`))
