package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/nginxconf"
	"github.com/livegate/livegate/internal/testenv"
)

// TestRTMPIngestEndToEnd runs the whole ingest path with real parts: the livegate binary,
// nginx with the RTMP module on the configuration `livegate rtmp nginx-conf` prints, and
// ffmpeg pushing a generated test pattern and playing it back over RTMP.
func TestRTMPIngestEndToEnd(t *testing.T) {
	e := newIngestScenario(t)
	e.createLivestream()
	e.subscribe()
	e.pushWhileViewing()
	e.checkSession()
	e.refusedPublishersChangeNothing()
}

// ingestScenario is TestRTMPIngestEndToEnd's one livegate process and nginx; the methods
// are the steps, called in order.
type ingestScenario struct {
	t                 *testing.T
	ctx               context.Context
	ffmpeg            string
	lg                *process
	creds             auth.Credentials
	prefix            string
	rtmpAddr, hlsAddr string
	id, key           string
	ingest, playback  string
	conn              *grpc.ClientConn
	statuses          chan livegatev1.LivestreamStatus
	pushed            time.Duration
}

// newIngestScenario starts livegate and nginx on the configuration `livegate rtmp
// nginx-conf` prints.
func newIngestScenario(t *testing.T) *ingestScenario {
	module := nginxconf.DefaultModule
	nginx := testenv.NginxRTMP(t, module)
	e := &ingestScenario{t: t, ffmpeg: testenv.LookPath(t, "ffmpeg")}
	bin := buildLivegate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx

	dataDir := t.TempDir()
	e.prefix = t.TempDir()
	e.rtmpAddr, e.hlsAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	e.creds = createAppCLI(t, bin, dataDir, "acme", "web")
	e.lg = startProcess(t, bin, dataDir,
		"--ingest-base", "rtmp://"+e.rtmpAddr+"/live",
		"--playback-base", "http://"+e.hlsAddr+"/hls")

	// The configuration nginx runs is the one the command prints.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(e.prefix, "nginx.conf")
	var confOut, confErr bytes.Buffer
	cmd := exec.Command(bin, "rtmp", "nginx-conf", "--data-dir", dataDir,
		"--livegate-url", "http://"+e.lg.http, "--rtmp-listen", e.rtmpAddr, "--http-listen", e.hlsAddr,
		"--hls-dir", filepath.Join(e.prefix, "hls"), "--rtmp-module", module, "--user", me.Username)
	cmd.Stdout, cmd.Stderr = &confOut, &confErr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rtmp nginx-conf: %v\n%s", err, confErr.Bytes())
	}
	if err := os.WriteFile(conf, confOut.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartNginx(t, nginx, conf, e.prefix, e.rtmpAddr, e.hlsAddr)
	return e
}

// rest calls the app's REST API as a RealtimeKit client would, and returns the answer's data.
func (e *ingestScenario) rest(method, path string, body any) map[string]any {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(e.ctx, method, "http://"+e.lg.http+"/accounts/acme/realtime/kit/web"+path, r)
	req.Header.Set("Authorization", "Bearer "+e.creds.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, m, err)
	}
	return m["data"].(map[string]any)
}

// createLivestream creates a livestream over REST: its ingest and playback addresses are nginx's.
func (e *ingestScenario) createLivestream() {
	ls := e.rest(http.MethodPost, "/livestreams", map[string]any{"name": "e2e"})
	e.id, e.key = ls["id"].(string), ls["stream_key"].(string)
	e.ingest, e.playback = ls["ingest_server"].(string), ls["playback_url"].(string)
	if e.ingest != "rtmp://"+e.rtmpAddr+"/live" || e.playback != "http://"+e.hlsAddr+"/hls/"+e.id+"/index.m3u8" {
		e.t.Fatalf("ingest_server %q, playback_url %q: not nginx's addresses", e.ingest, e.playback)
	}
}

// subscribe starts a subscriber of the livestream's events, from the start of the feed.
func (e *ingestScenario) subscribe() {
	conn, err := grpc.NewClient(e.lg.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.conn = conn
	e.t.Cleanup(func() { conn.Close() })
	subCtx, stopSub := context.WithCancel(withToken(e.creds.APIToken))
	e.t.Cleanup(stopSub)
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(subCtx, &livegatev1.SubscribeRequest{AccountId: "acme", AppId: "web", LivestreamId: e.id})
	if err != nil {
		e.t.Fatal(err)
	}
	e.statuses = make(chan livegatev1.LivestreamStatus, 16)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				close(e.statuses)
				return
			}
			if sc := resp.GetEvent().GetLivestreamStatusChanged(); sc != nil {
				e.statuses <- sc.GetNewStatus()
			}
		}
	}()
}

func (e *ingestScenario) waitStatus(want livegatev1.LivestreamStatus, within time.Duration) {
	e.t.Helper()
	select {
	case got, ok := <-e.statuses:
		if !ok || got != want {
			e.t.Fatalf("subscriber saw %v (open %v), want %v", got, ok, want)
		}
	case <-time.After(within):
		e.t.Fatalf("subscriber did not see %v within %v", want, within)
	}
}

// pushWhileViewing pushes 8 seconds of a test pattern at real-time speed (the subscriber
// sees LIVE, then IDLE); meanwhile a viewer plays the stream over RTMP, by the
// livestream's id, for 3 seconds, while the HLS playlist is checked.
func (e *ingestScenario) pushWhileViewing() {
	t := e.t
	e.pushed = 8 * time.Second
	push := exec.CommandContext(e.ctx, e.ffmpeg, pushArgs(e.ingest+"/"+e.key, e.pushed)...)
	var pushLog bytes.Buffer
	push.Stderr = &pushLog
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushDone := make(chan error, 1)
	go func() { pushDone <- push.Wait() }()
	e.waitStatus(livegatev1.LivestreamStatus_LIVE, 20*time.Second)

	viewCtx, stopView := context.WithTimeout(e.ctx, 30*time.Second)
	t.Cleanup(stopView)
	view := exec.CommandContext(viewCtx, e.ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "rtmp://"+e.rtmpAddr+"/"+nginxconf.PlayApp+"/"+e.id, "-t", "3", "-f", "null", "-")
	var viewLog bytes.Buffer
	view.Stdout, view.Stderr = &viewLog, &viewLog
	if err := view.Start(); err != nil {
		t.Fatal(err)
	}
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Wait() }()

	e.checkPlaylist()

	if err := <-viewDone; err != nil {
		t.Fatalf("viewer: %v\n%s", err, viewLog.Bytes())
	}
	select {
	case err := <-pushDone:
		if err != nil {
			t.Fatalf("ffmpeg push: %v\n%s", err, pushLog.Bytes())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg push did not end")
	}
	e.waitStatus(livegatev1.LivestreamStatus_IDLE, 20*time.Second)
}

// checkPlaylist: the HLS playlist at playback_url lists segments, under the livestream's id.
func (e *ingestScenario) checkPlaylist() {
	var playlist string
	testenv.WaitFor(e.t, "an HLS playlist with segments at "+e.playback, func() bool {
		resp, err := http.Get(e.playback)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		playlist = string(b)
		return resp.StatusCode == http.StatusOK && strings.Contains(playlist, "#EXTINF")
	})
	if !strings.Contains(playlist, ".ts") {
		e.t.Errorf("playlist lists no .ts segments:\n%s", playlist)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.prefix, "hls")); len(entries) != 1 || entries[0].Name() != e.id {
		e.t.Errorf("HLS output %v, want one directory named after the livestream id (never the key)", entries)
	}
}

// checkSession: the livestream is IDLE again, and its session counts the push and the viewer.
func (e *ingestScenario) checkSession() {
	t := e.t
	got := e.rest(http.MethodGet, "/livestreams/"+e.id, nil)
	if s := got["livestream"].(map[string]any)["status"]; s != "IDLE" {
		t.Errorf("livestream status %v after the push, want IDLE", s)
	}
	sess := got["session"].(map[string]any)
	ingestSeconds, _ := sess["ingest_seconds"].(float64)
	viewerSeconds, _ := sess["viewer_seconds"].(float64)
	if d := ingestSeconds - e.pushed.Seconds(); d < -2 || d > 2 {
		t.Errorf("ingest_seconds %.2f, want %v ± 2s", ingestSeconds, e.pushed.Seconds())
	}
	if viewerSeconds < 1 || viewerSeconds > ingestSeconds {
		t.Errorf("viewer_seconds %.2f, want about 3 (a 3 s viewer)", viewerSeconds)
	}
	t.Logf("pushed %v: ingest_seconds %.2f, viewer_seconds %.2f", e.pushed, ingestSeconds, viewerSeconds)
}

// refusedPublishersChangeNothing: a wrong key, and the right key of a disabled livestream.
// ffmpeg fails, and nothing changes.
func (e *ingestScenario) refusedPublishersChangeNothing() {
	t := e.t
	before := e.rest(http.MethodGet, "/livestreams/"+e.id, nil)
	feedBefore := feedTypes(t, e.conn, e.creds.APIToken)
	refused := func(what, url string) {
		t.Helper()
		cmd := exec.CommandContext(e.ctx, e.ffmpeg, pushArgs(url, 2*time.Second)...)
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s: ffmpeg pushed without an error:\n%s", what, b)
		}
	}
	refused("wrong key", e.ingest+"/not-"+e.key)
	e.rest(http.MethodPut, "/livestreams/"+e.id+"/disable", nil)
	refused("disabled livestream", e.ingest+"/"+e.key)
	after := e.rest(http.MethodGet, "/livestreams/"+e.id, nil)
	if fmt.Sprint(after["session"]) != fmt.Sprint(before["session"]) || after["livestream"].(map[string]any)["status"] != "IDLE" {
		t.Errorf("a refused publisher changed the livestream:\nbefore %v\nafter  %v", before, after)
	}
	if feedAfter := feedTypes(t, e.conn, e.creds.APIToken); strings.Join(feedAfter, " ") != strings.Join(feedBefore, " ") {
		t.Errorf("a refused publisher added events: %v → %v", feedBefore, feedAfter)
	}
}

// pushArgs are ffmpeg's arguments to publish d of a generated test pattern with a tone to
// url, in real time, with a keyframe each second (so HLS can cut 1-2 s fragments).
func pushArgs(url string, d time.Duration) []string {
	secs := fmt.Sprint(d.Seconds())
	return []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
		"-f", "lavfi", "-i", "sine=frequency=440",
		"-t", secs, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
		"-c:a", "aac", "-f", "flv", url}
}

func feedTypes(t *testing.T, conn *grpc.ClientConn, token string) []string {
	t.Helper()
	resp, err := livegatev1.NewEventServiceClient(conn).ListEvents(withToken(token), &livegatev1.ListEventsRequest{AccountId: "acme", AppId: "web", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return eventTypes(resp.GetEvents())
}
