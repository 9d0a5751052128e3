package nginxconf

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

const testSecret = "S3cr3t_s3cr3t-0123456789"

func goodConfig() Config {
	return Config{
		LivegateURL:    "http://127.0.0.1:8080",
		CallbackSecret: testSecret,
		RTMPListen:     "127.0.0.1:1935",
		HTTPListen:     "127.0.0.1:8081",
		HLSDir:         "/var/lib/livegate/hls",
	}
}

func TestValidateGood(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"defaults":              func(*Config) {},
		"port only":             func(c *Config) { c.RTMPListen, c.HTTPListen = "1935", "8081" },
		"wildcard IPv4":         func(c *Config) { c.RTMPListen, c.HTTPListen = "0.0.0.0:1935", "0.0.0.0:8081" },
		"IPv6 loopback":         func(c *Config) { c.RTMPListen, c.HTTPListen = "[::1]:1935", "[::1]:8081" },
		"IPv6 wildcard":         func(c *Config) { c.RTMPListen = "[::]:1935" },
		"star":                  func(c *Config) { c.RTMPListen = "*:1935" },
		"host name (HTTP)":      func(c *Config) { c.HTTPListen = "media.example.com:80" },
		"same port, other host": func(c *Config) { c.RTMPListen, c.HTTPListen = "127.0.0.1:1935", "127.0.0.2:1935" },
		"URL with slash":        func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080/" },
		"URL without port":      func(c *Config) { c.LivegateURL = "http://livegate.internal" },
		"URL upper-case scheme": func(c *Config) { c.LivegateURL = "HTTP://livegate.internal:8080" },
		"URL IPv6":              func(c *Config) { c.LivegateURL = "http://[::1]:8080" },
		"HLS dir, slash":        func(c *Config) { c.HLSDir = "/srv/hls/" },
		"module":                func(c *Config) { c.Module = "/opt/nginx/modules/ngx_rtmp_module.so" },
		"user":                  func(c *Config) { c.User = "www-data" },
		"secret 16":             func(c *Config) { c.CallbackSecret = strings.Repeat("a", 16) },
		"secret 128":            func(c *Config) { c.CallbackSecret = strings.Repeat("Z", 128) },
		"secret base32":         func(c *Config) { c.CallbackSecret = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" },
	} {
		t.Run(name, func(t *testing.T) {
			c := goodConfig()
			edit(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", c, err)
			}
		})
	}
}

func TestValidateBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // the flag the error must name
	}{
		{"no URL", func(c *Config) { c.LivegateURL = "" }, "--livegate-url"},
		{"https", func(c *Config) { c.LivegateURL = "https://127.0.0.1:8443" }, "--livegate-url"},
		{"ftp", func(c *Config) { c.LivegateURL = "ftp://127.0.0.1" }, "--livegate-url"},
		{"no scheme", func(c *Config) { c.LivegateURL = "127.0.0.1:8080" }, "--livegate-url"},
		{"no host", func(c *Config) { c.LivegateURL = "http://:8080" }, "--livegate-url"},
		{"path", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080/api" }, "--livegate-url"},
		{"query", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080/?a=b" }, "--livegate-url"},
		{"empty query", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080?" }, "--livegate-url"},
		{"fragment", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080#x" }, "--livegate-url"},
		{"user info", func(c *Config) { c.LivegateURL = "http://u:p@127.0.0.1:8080" }, "--livegate-url"},
		{"URL port 0", func(c *Config) { c.LivegateURL = "http://127.0.0.1:0" }, "--livegate-url"},
		{"URL port big", func(c *Config) { c.LivegateURL = "http://127.0.0.1:65536" }, "--livegate-url"},
		{"URL empty port", func(c *Config) { c.LivegateURL = "http://127.0.0.1:" }, "--livegate-url"},
		{"URL injection", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080;daemon" }, "--livegate-url"},
		{"URL space", func(c *Config) { c.LivegateURL = "http://127.0.0.1:8080 x" }, "--livegate-url"},
		{"URL brace", func(c *Config) { c.LivegateURL = "http://a}b" }, "--livegate-url"},
		{"URL bad host", func(c *Config) { c.LivegateURL = "http://a_b" }, "--livegate-url"},
		{"no secret", func(c *Config) { c.CallbackSecret = "" }, "callback secret"},
		{"short secret", func(c *Config) { c.CallbackSecret = strings.Repeat("a", 15) }, "callback secret"},
		{"long secret", func(c *Config) { c.CallbackSecret = strings.Repeat("a", 129) }, "callback secret"},
		{"secret slash", func(c *Config) { c.CallbackSecret = "abcdefgh/ijklmnopq" }, "callback secret"},
		{"secret dot", func(c *Config) { c.CallbackSecret = "abcdefgh.ijklmnopq" }, "callback secret"},
		{"secret semicolon", func(c *Config) { c.CallbackSecret = "abcdefghijklmnopq;" }, "callback secret"},
		{"no RTMP", func(c *Config) { c.RTMPListen = "" }, "--rtmp-listen"},
		{"RTMP port 0", func(c *Config) { c.RTMPListen = "0" }, "--rtmp-listen"},
		{"RTMP port big", func(c *Config) { c.RTMPListen = "65536" }, "--rtmp-listen"},
		{"RTMP negative", func(c *Config) { c.RTMPListen = "-1" }, "--rtmp-listen"},
		{"RTMP no port", func(c *Config) { c.RTMPListen = "127.0.0.1:" }, "--rtmp-listen"},
		{"RTMP empty host", func(c *Config) { c.RTMPListen = ":1935" }, "--rtmp-listen"},
		{"RTMP host only", func(c *Config) { c.RTMPListen = "localhost" }, "--rtmp-listen"},
		{"RTMP bare IPv6", func(c *Config) { c.RTMPListen = "::1:1935" }, "--rtmp-listen"},
		{"RTMP IPv6 no port", func(c *Config) { c.RTMPListen = "[::1]" }, "--rtmp-listen"},
		{"RTMP IPv4 brackets", func(c *Config) { c.RTMPListen = "[127.0.0.1]:1935" }, "--rtmp-listen"},
		{"RTMP host name", func(c *Config) { c.RTMPListen = "media.example.com:1935" }, "--rtmp-listen"},
		{"RTMP option", func(c *Config) { c.RTMPListen = "1935 reuseport" }, "--rtmp-listen"},
		{"RTMP injection", func(c *Config) { c.RTMPListen = "1935;}daemon on;{" }, "--rtmp-listen"},
		{"RTMP URL", func(c *Config) { c.RTMPListen = "rtmp://127.0.0.1:1935" }, "--rtmp-listen"},
		{"no HTTP", func(c *Config) { c.HTTPListen = "" }, "--http-listen"},
		{"HTTP name", func(c *Config) { c.HTTPListen = "http" }, "--http-listen"},
		{"HTTP newline", func(c *Config) { c.HTTPListen = "8081\n" }, "--http-listen"},
		{"HTTP same as RTMP", func(c *Config) { c.HTTPListen = c.RTMPListen }, "--http-listen"},
		{"HTTP wildcard on RTMP port", func(c *Config) { c.HTTPListen = "1935" }, "--http-listen"},
		{"no HLS dir", func(c *Config) { c.HLSDir = "" }, "--hls-dir"},
		{"relative HLS dir", func(c *Config) { c.HLSDir = "hls" }, "--hls-dir"},
		{"root HLS dir", func(c *Config) { c.HLSDir = "/" }, "--hls-dir"},
		{"HLS dir space", func(c *Config) { c.HLSDir = "/srv/my hls" }, "--hls-dir"},
		{"HLS dir tab", func(c *Config) { c.HLSDir = "/srv/hls\t" }, "--hls-dir"},
		{"HLS dir semicolon", func(c *Config) { c.HLSDir = "/srv/hls;" }, "--hls-dir"},
		{"HLS dir dollar", func(c *Config) { c.HLSDir = "/srv/$hls" }, "--hls-dir"},
		{"HLS dir quote", func(c *Config) { c.HLSDir = `/srv/"hls` }, "--hls-dir"},
		{"HLS dir single quote", func(c *Config) { c.HLSDir = `/srv/'hls` }, "--hls-dir"},
		{"HLS dir hash", func(c *Config) { c.HLSDir = "/srv/#hls" }, "--hls-dir"},
		{"HLS dir brace", func(c *Config) { c.HLSDir = "/srv/{hls}" }, "--hls-dir"},
		{"HLS dir backslash", func(c *Config) { c.HLSDir = `/srv/\hls` }, "--hls-dir"},
		{"HLS dir control", func(c *Config) { c.HLSDir = "/srv/\x00hls" }, "--hls-dir"},
		{"relative module", func(c *Config) { c.Module = "ngx_rtmp_module.so" }, "--rtmp-module"},
		{"module space", func(c *Config) { c.Module = "/opt/my modules/ngx_rtmp_module.so" }, "--rtmp-module"},
		{"user space", func(c *Config) { c.User = "www data" }, "--user"},
		{"user semicolon", func(c *Config) { c.User = "root;" }, "--user"},
		{"user dash", func(c *Config) { c.User = "-x" }, "--user"},
		{"user colon", func(c *Config) { c.User = "www:www" }, "--user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error naming %s", c, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want+": ") {
				t.Errorf("Validate(%+v) = %q, want it to start with %q", c, err, tc.want+": ")
			}
			if c.CallbackSecret != "" && strings.Contains(err.Error(), c.CallbackSecret) {
				t.Errorf("Validate error %q contains the callback secret", err)
			}
			if err := Write(io.Discard, c); err == nil {
				t.Errorf("Write accepted the config Validate refused")
			}
		})
	}
}

func TestValidateMessage(t *testing.T) {
	c := goodConfig()
	c.HLSDir = "hls"
	if got, want := fmt.Sprint(c.Validate()), `--hls-dir: must be an absolute path, got "hls"`; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	// Every field at fault is reported.
	c = Config{}
	err := c.Validate()
	for _, flag := range []string{"--livegate-url", "callback secret", "--rtmp-listen", "--http-listen", "--hls-dir"} {
		if !strings.Contains(fmt.Sprint(err), flag+": ") {
			t.Errorf("Validate(Config{}) = %q, does not name %s", err, flag)
		}
	}
}

func TestWrite(t *testing.T) {
	c := goodConfig()
	c.LivegateURL = "http://10.0.0.5:8080/"
	c.HLSDir = "/srv/hls/"
	conf := writeString(t, c)
	t.Run("every directive", func(t *testing.T) {
		directives := directiveLines(conf)
		for _, want := range writeWantLines {
			if !directives[want] {
				t.Errorf("the config has no line %q:\n%s", want, conf)
			}
		}
	})
	t.Run("callbacks per application", func(t *testing.T) { checkAppCallbacks(t, conf) })
	t.Run("no banned directive", func(t *testing.T) {
		for line := range directiveLines(conf) {
			for _, banned := range []string{"daemon", "master_process", "on_done", "on_connect", "on_disconnect", "user"} {
				if strings.HasPrefix(line, banned+" ") {
					t.Errorf("the config has the directive %q", line)
				}
			}
		}
	})
	t.Run("comment header", func(t *testing.T) { checkConfigHeader(t, conf) })
	t.Run("balanced braces", func(t *testing.T) {
		if strings.Count(conf, "{") != strings.Count(conf, "}") {
			t.Errorf("unbalanced braces:\n%s", conf)
		}
	})
	t.Run("user and module", func(t *testing.T) {
		c := c
		c.User = "www-data"
		c.Module = "/opt/ngx_rtmp_module.so"
		conf := writeString(t, c)
		directives := directiveLines(conf)
		for _, want := range []string{"user www-data;", "load_module /opt/ngx_rtmp_module.so;"} {
			if !directives[want] {
				t.Errorf("the config has no line %q:\n%s", want, conf)
			}
		}
	})
}

// writeString is Write's configuration for c.
func writeString(t *testing.T, c Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeWantLines are lines TestWrite's configuration must have (LivegateURL
// http://10.0.0.5:8080/, HLSDir /srv/hls/, the rest goodConfig's).
var writeWantLines = []string{
	"load_module " + DefaultModule + ";",
	"worker_processes 1;",
	"pid nginx.pid;",
	"error_log stderr notice;",
	"worker_connections 1024;",
	"listen 127.0.0.1:1935;",
	"chunk_size 4096;",
	"application live {",
	"deny play all;",
	"push rtmp://127.0.0.1:1935/watch;",
	"application watch {",
	"allow publish 127.0.0.1;",
	"deny publish all;",
	"live on;",
	"record off;",
	"notify_method post;",
	"on_publish http://10.0.0.5:8080/rtmp/" + testSecret + "/on_publish;",
	"on_publish_done http://10.0.0.5:8080/rtmp/" + testSecret + "/on_publish_done;",
	"on_play http://10.0.0.5:8080/rtmp/" + testSecret + "/on_play;",
	"on_play_done http://10.0.0.5:8080/rtmp/" + testSecret + "/on_play_done;",
	"on_update http://10.0.0.5:8080/rtmp/" + testSecret + "/on_update;",
	"notify_update_timeout 30s;",
	"drop_idle_publisher 10s;",
	"hls on;",
	"hls_path /srv/hls;",
	"hls_nested on;",
	"hls_fragment 2s;",
	"hls_playlist_length 16s;",
	"client_body_temp_path client_body_temp;",
	"proxy_temp_path proxy_temp;",
	"fastcgi_temp_path fastcgi_temp;",
	"uwsgi_temp_path uwsgi_temp;",
	"scgi_temp_path scgi_temp;",
	"listen 127.0.0.1:8081;",
	"location /hls/ {",
	"alias /srv/hls/;",
	"application/vnd.apple.mpegurl m3u8;",
	"video/mp2t ts;",
	"add_header Cache-Control no-cache;",
	"add_header Access-Control-Allow-Origin *;",
	"return 404;",
}

// checkAppCallbacks: the ingest application has only the publish callbacks (nginx-rtmp's
// callbacks for its own relay fail and drop it); the playback one only the play ones and
// on_update.
func checkAppCallbacks(t *testing.T, conf string) {
	t.Helper()
	live := conf[strings.Index(conf, "application live {"):strings.Index(conf, "application watch {")]
	watch := conf[strings.Index(conf, "application watch {"):strings.Index(conf, "http {")]
	for _, tc := range []struct {
		app, text   string
		has, hasNot []string
	}{
		{"live", live, []string{"on_publish ", "on_publish_done ", "push "}, []string{"on_play", "on_update", "hls on"}},
		{"watch", watch, []string{"on_play ", "on_play_done ", "on_update ", "hls on"}, []string{"on_publish", "push "}},
	} {
		for _, d := range tc.has {
			if !strings.Contains(tc.text, "\n            "+d) {
				t.Errorf("application %s has no %q directive:\n%s", tc.app, d, tc.text)
			}
		}
		for _, d := range tc.hasNot {
			if strings.Contains(tc.text, "\n            "+d) {
				t.Errorf("application %s has a %q directive:\n%s", tc.app, d, tc.text)
			}
		}
	}
}

// checkConfigHeader: the config starts with a comment header that says how it was made
// and how to run it.
func checkConfigHeader(t *testing.T, conf string) {
	t.Helper()
	if !strings.HasPrefix(conf, "#") {
		t.Errorf("the config does not start with its comment header:\n%s", conf)
	}
	header := conf[:strings.Index(conf, "\n\n"+"load_module")]
	for _, want := range []string{
		"livegate rtmp nginx-conf",
		"nginx -c FILE -p PREFIX -g 'daemon off;'",
		"livegate serve --ingest-base rtmp://127.0.0.1:1935/live --playback-base http://127.0.0.1:8081/hls",
		"callback secret",
	} {
		if !strings.Contains(header, want) {
			t.Errorf("the header does not contain %q:\n%s", want, header)
		}
	}
}

func TestWriteInvalid(t *testing.T) {
	c := goodConfig()
	c.RTMPListen = "1935;"
	var b bytes.Buffer
	if err := Write(&b, c); err == nil || !strings.Contains(err.Error(), "--rtmp-listen") {
		t.Errorf("Write = %v, want an --rtmp-listen error", err)
	}
	if b.Len() != 0 {
		t.Errorf("Write wrote %q for an invalid config", b.String())
	}
}

// directiveLines returns the config's lines, trimmed, without comments and blank lines.
func directiveLines(conf string) map[string]bool {
	lines := map[string]bool{}
	for _, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines[line] = true
		}
	}
	return lines
}

func TestBases(t *testing.T) {
	for _, tc := range []struct{ rtmp, http, ingest, playback string }{
		{"127.0.0.1:1935", "127.0.0.1:8081", "rtmp://127.0.0.1:1935/live", "http://127.0.0.1:8081/hls"},
		{"1935", "80", "rtmp://localhost:1935/live", "http://localhost:80/hls"},
		{"0.0.0.0:1935", "0.0.0.0:8081", "rtmp://localhost:1935/live", "http://localhost:8081/hls"},
		{"[::]:1935", "*:8081", "rtmp://localhost:1935/live", "http://localhost:8081/hls"},
		{"[::1]:1935", "[::1]:8081", "rtmp://[::1]:1935/live", "http://[::1]:8081/hls"},
		{"192.0.2.7:1935", "media.example.com:8081", "rtmp://192.0.2.7:1935/live", "http://media.example.com:8081/hls"},
		{"01935", "08081", "rtmp://localhost:1935/live", "http://localhost:8081/hls"},
	} {
		c := goodConfig()
		c.RTMPListen, c.HTTPListen = tc.rtmp, tc.http
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%q, %q) = %v", tc.rtmp, tc.http, err)
		}
		if got := c.IngestBase(); got != tc.ingest {
			t.Errorf("IngestBase() with --rtmp-listen %q = %q, want %q", tc.rtmp, got, tc.ingest)
		}
		if got := c.PlaybackBase(); got != tc.playback {
			t.Errorf("PlaybackBase() with --http-listen %q = %q, want %q", tc.http, got, tc.playback)
		}
	}
}

// writeConfig writes c's nginx configuration to dir/nginx.conf and returns its path.
func writeConfig(t *testing.T, dir string, c Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNginxAcceptsConfig runs `nginx -t` on the written configuration, as the user running
// the test and, when that is root, as an unprivileged user whose prefix holds everything
// nginx writes.
func TestNginxAcceptsConfig(t *testing.T) {
	module := DefaultModule
	nginx := testenv.NginxRTMP(t, module)
	test := func(t *testing.T, dir string, cred *syscall.Credential) {
		prefix := filepath.Join(dir, "prefix")
		if err := os.Mkdir(prefix, 0o755); err != nil {
			t.Fatal(err)
		}
		if cred != nil { // the prefix is the unprivileged nginx's to write
			if err := os.Chown(prefix, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
		c := Config{
			LivegateURL:    "http://" + testenv.FreeAddr(t),
			CallbackSecret: testSecret,
			RTMPListen:     testenv.FreeAddr(t),
			HTTPListen:     testenv.FreeAddr(t),
			HLSDir:         filepath.Join(dir, "hls"),
			Module:         module,
		}
		conf := writeConfig(t, dir, c)
		cmd := exec.Command(nginx, "-t", "-c", conf, "-p", prefix, "-g", "daemon off;")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "test is successful") {
			t.Errorf("nginx -t says:\n%s", out)
		}
		for _, d := range []string{"client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"} {
			if _, err := os.Stat(filepath.Join(prefix, d)); err != nil {
				t.Errorf("nginx did not create its temp directory in the prefix: %v", err)
			}
		}
	}
	t.Run("invoking user", func(t *testing.T) { test(t, t.TempDir(), nil) })
	t.Run("unprivileged", func(t *testing.T) {
		if os.Geteuid() != 0 {
			test(t, t.TempDir(), nil) // the invoking user is unprivileged already
			return
		}
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		// Not t.TempDir: its parent is root's, mode 0700.
		dir, err := os.MkdirTemp("", "nginxconf-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		test(t, dir, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)})
	})
}

// callback is one notify request nginx-rtmp made.
type callback struct {
	path string
	form url.Values
}

// recorder stands in for livegate: it records every callback, answers on_publish with a
// redirect that renames the stream to renameTo, and everything else with 200.
type recorder struct {
	renameTo string
	mu       sync.Mutex
	calls    []callback
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.calls = append(rec.calls, callback{r.URL.Path, r.PostForm})
	rec.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/on_publish") {
		// Not http.Redirect: it would make the Location an absolute path.
		w.Header().Set("Location", rec.renameTo)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// find returns the callbacks made to path.
func (rec *recorder) find(path string) []callback {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var found []callback
	for _, c := range rec.calls {
		if c.path == path {
			found = append(found, c)
		}
	}
	return found
}

func (rec *recorder) String() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var b strings.Builder
	for _, c := range rec.calls {
		fmt.Fprintf(&b, "  %s %s\n", c.path, c.form.Encode())
	}
	return b.String()
}

// TestNginxServesStream runs the written configuration in a real nginx, pushes a stream
// with ffmpeg and checks the callbacks reach livegate, livegate's rename takes effect and
// nginx serves the stream's HLS under its new name.
func TestNginxServesStream(t *testing.T) {
	s := startServingNginx(t)
	s.pushWhilePlaylistServed()
	s.checkCallbacks()
	s.checkHLSFiles()
	if t.Failed() {
		t.Logf("ffmpeg's log:\n%s", s.pushLog.String())
		t.Logf("callbacks:\n%s", s.rec)
	}
	if strings.Contains(s.ngx.Log(), "[emerg]") || strings.Contains(s.ngx.Log(), "[crit]") {
		t.Errorf("nginx logged an error:\n%s", s.ngx.Log())
	}
	logLines(t, "nginx", s.ngx.Log())
}

// servingNginx is TestNginxServesStream's nginx, on the written configuration, with a
// recorder in livegate's place that renames the stream; the methods are the steps.
type servingNginx struct {
	t                  *testing.T
	ffmpeg             string
	rec                *recorder
	ngx                *testenv.Nginx
	rtmpAddr, httpAddr string
	hlsDir             string
	pushLog            strings.Builder
}

func startServingNginx(t *testing.T) *servingNginx {
	module := DefaultModule
	nginx := testenv.NginxRTMP(t, module)
	s := &servingNginx{t: t, ffmpeg: testenv.LookPath(t, "ffmpeg"), rec: &recorder{renameTo: "renamed"}}
	livegate := httptest.NewServer(s.rec)
	t.Cleanup(livegate.Close)

	dir := t.TempDir()
	prefix := filepath.Join(dir, "prefix")
	if err := os.Mkdir(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	s.rtmpAddr = testenv.FreeAddr(t)
	s.httpAddr = testenv.FreeAddr(t)
	s.hlsDir = filepath.Join(dir, "hls")
	c := Config{
		LivegateURL:    livegate.URL,
		CallbackSecret: testSecret,
		RTMPListen:     s.rtmpAddr,
		HTTPListen:     s.httpAddr,
		HLSDir:         s.hlsDir,
		Module:         module,
	}
	if os.Geteuid() == 0 {
		// Otherwise the workers run as nobody, who cannot enter t.TempDir() (root's, 0700)
		// to write or serve the HLS files.
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		c.User = me.Username
	}
	conf := writeConfig(t, dir, c)
	s.ngx = testenv.StartNginx(t, nginx, conf, prefix, s.rtmpAddr, s.httpAddr)
	return s
}

// pushWhilePlaylistServed pushes a stream with ffmpeg; while it pushes, nginx serves the
// renamed stream's playlist.
func (s *servingNginx) pushWhilePlaylistServed() {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Long enough for the relay to the playback application and the first 2 s fragment.
	push := exec.CommandContext(ctx, s.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
		"-c:a", "aac", "-t", "6", "-f", "flv", "rtmp://"+s.rtmpAddr+"/"+App+"/thekey")
	push.Stdout, push.Stderr = &s.pushLog, &s.pushLog
	start := time.Now()
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- push.Wait() }()

	playlist := "http://" + s.httpAddr + HLSPath + "/renamed/index.m3u8"
	var (
		served   bool
		pushErr  error
		pushDone bool
	)
	for !served && !pushDone {
		select {
		case pushErr = <-pushed:
			pushDone = true
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(playlist)
		if err != nil {
			t.Fatalf("GET %s: %v", playlist, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		served = true
		t.Logf("the playlist was served %v after ffmpeg started (ffmpeg done: %v)", time.Since(start).Round(10*time.Millisecond), pushDone)
		if pushDone {
			t.Errorf("GET %s: 200 only after ffmpeg stopped pushing", playlist)
		}
		checkPlaylistAnswer(t, playlist, resp, body)
	}
	if !served {
		t.Errorf("GET %s never answered 200 while ffmpeg pushed", playlist)
	}
	if !pushDone {
		pushErr = <-pushed
	}
	if pushErr != nil {
		t.Fatalf("ffmpeg: %v\n%s", pushErr, s.pushLog.String())
	}
}

// checkPlaylistAnswer: a served playlist is an HLS playlist with fragments, not cached, and
// open to every origin.
func checkPlaylistAnswer(t *testing.T, playlist string, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("GET %s: Content-Type %q, want application/vnd.apple.mpegurl", playlist, ct)
	}
	if !bytes.HasPrefix(body, []byte("#EXTM3U")) || !bytes.Contains(body, []byte(".ts")) {
		t.Errorf("GET %s: not a playlist with fragments:\n%s", playlist, body)
	}
	for header, want := range map[string]string{"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("GET %s: %s %q, want %q", playlist, header, got, want)
		}
	}
}

// checkCallbacks: the stream's start and end reach livegate, once each, and nothing else.
func (s *servingNginx) checkCallbacks() {
	t, rec := s.t, s.rec
	secretPath := "/rtmp/" + testSecret + "/"
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.find(secretPath+"on_publish_done")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	publish := rec.find(secretPath + "on_publish")
	if len(publish) != 1 {
		t.Fatalf("got %d on_publish callbacks, want 1; callbacks:\n%s", len(publish), rec)
	}
	for k, want := range map[string]string{"call": "publish", "app": App, "name": "thekey", "type": "live"} {
		if got := publish[0].form.Get(k); got != want {
			t.Errorf("on_publish %s = %q, want %q (form %v)", k, got, want, publish[0].form)
		}
	}
	done := rec.find(secretPath + "on_publish_done")
	if len(done) != 1 {
		t.Fatalf("got %d on_publish_done callbacks, want 1; callbacks:\n%s", len(done), rec)
	}
	// nginx-rtmp reports the name the publisher asked for, not the one livegate
	// renamed it to.
	for k, want := range map[string]string{"call": "publish_done", "app": App, "name": "thekey"} {
		if got := done[0].form.Get(k); got != want {
			t.Errorf("on_publish_done %s = %q, want %q (form %v)", k, got, want, done[0].form)
		}
	}
	for _, call := range []string{"on_play", "on_play_done", "on_update"} {
		if got := rec.find(secretPath + call); len(got) != 0 {
			t.Errorf("unexpected %s callbacks; callbacks:\n%s", call, rec)
		}
	}
}

// checkHLSFiles: the HLS files are under the new name, and stay after the stream ends
// (hls_cleanup removes them a playlist length or two later).
func (s *servingNginx) checkHLSFiles() {
	for _, p := range []string{"index.m3u8", "*.ts"} {
		if m, _ := filepath.Glob(filepath.Join(s.hlsDir, "renamed", p)); len(m) == 0 {
			s.t.Errorf("no %s in %s after the stream ended", p, filepath.Join(s.hlsDir, "renamed"))
		}
	}
	if _, err := os.Stat(filepath.Join(s.hlsDir, "thekey")); !errors.Is(err, os.ErrNotExist) {
		s.t.Errorf("HLS output under the stream key: %v", err)
	}
}

// logLines logs s line by line, in verbose runs, for whoever wants to see what nginx did.
func logLines(t *testing.T, name, s string) {
	if !testing.Verbose() {
		return
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		t.Logf("%s: %s", name, sc.Text())
	}
}

// TestRelay checks where the ingest application relays to, and whom the playback one lets
// publish: this nginx's own listener, at loopback for a wildcard ([::] may not take IPv4).
func TestRelay(t *testing.T) {
	for _, tc := range []struct{ listen, push, allow string }{
		{"127.0.0.1:1935", "push rtmp://127.0.0.1:1935/watch;", "allow publish 127.0.0.1;"},
		{"1935", "push rtmp://127.0.0.1:1935/watch;", "allow publish 127.0.0.1;"},
		{"0.0.0.0:1935", "push rtmp://127.0.0.1:1935/watch;", "allow publish 127.0.0.1;"},
		{"*:1935", "push rtmp://127.0.0.1:1935/watch;", "allow publish 127.0.0.1;"},
		{"[::]:1935", "push rtmp://[::1]:1935/watch;", "allow publish ::1;"},
		{"[::1]:1935", "push rtmp://[::1]:1935/watch;", "allow publish ::1;"},
		{"10.1.2.3:1935", "push rtmp://10.1.2.3:1935/watch;", "allow publish 10.1.2.3;"},
	} {
		c := goodConfig()
		c.RTMPListen = tc.listen
		var b bytes.Buffer
		if err := Write(&b, c); err != nil {
			t.Fatalf("--rtmp-listen %q: %v", tc.listen, err)
		}
		directives := directiveLines(b.String())
		for _, want := range []string{tc.push, tc.allow} {
			if !directives[want] {
				t.Errorf("--rtmp-listen %q: no line %q:\n%s", tc.listen, want, b.String())
			}
		}
	}
}
