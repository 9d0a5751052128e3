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
	module := nginxconf.DefaultModule
	nginx := testenv.NginxRTMP(t, module)
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	bin := buildLivegate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dataDir, prefix := t.TempDir(), t.TempDir()
	rtmpAddr, hlsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	out, err := exec.Command(bin, "apps", "create", "--create", "--data-dir", dataDir, "--account", "acme", "--app", "web").Output()
	if err != nil {
		t.Fatalf("apps create: %v", err)
	}
	var creds auth.Credentials
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatal(err)
	}
	lg := startProcess(t, bin, dataDir,
		"--ingest-base", "rtmp://"+rtmpAddr+"/live",
		"--playback-base", "http://"+hlsAddr+"/hls")

	// The configuration nginx runs is the one the command prints.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	var confOut, confErr bytes.Buffer
	cmd := exec.Command(bin, "rtmp", "nginx-conf", "--data-dir", dataDir,
		"--livegate-url", "http://"+lg.http, "--rtmp-listen", rtmpAddr, "--http-listen", hlsAddr,
		"--hls-dir", filepath.Join(prefix, "hls"), "--rtmp-module", module, "--user", me.Username)
	cmd.Stdout, cmd.Stderr = &confOut, &confErr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rtmp nginx-conf: %v\n%s", err, confErr.Bytes())
	}
	if err := os.WriteFile(conf, confOut.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartNginx(t, nginx, conf, prefix, rtmpAddr, hlsAddr)

	// A livestream, created over REST as a RealtimeKit client would.
	rest := func(method, path string, body any) map[string]any {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+lg.http+"/accounts/acme/realtime/kit/web"+path, r)
		req.Header.Set("Authorization", "Bearer "+creds.APIToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, m, err)
		}
		return m["data"].(map[string]any)
	}
	ls := rest(http.MethodPost, "/livestreams", map[string]any{"name": "e2e"})
	id, key := ls["id"].(string), ls["stream_key"].(string)
	ingest, playback := ls["ingest_server"].(string), ls["playback_url"].(string)
	if ingest != "rtmp://"+rtmpAddr+"/live" || playback != "http://"+hlsAddr+"/hls/"+id+"/index.m3u8" {
		t.Fatalf("ingest_server %q, playback_url %q: not nginx's addresses", ingest, playback)
	}

	// A subscriber of the livestream's events, from the start of the feed.
	conn, err := grpc.NewClient(lg.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	subCtx, stopSub := context.WithCancel(withToken(creds.APIToken))
	defer stopSub()
	stream, err := livegatev1.NewEventServiceClient(conn).Subscribe(subCtx, &livegatev1.SubscribeRequest{AccountId: "acme", AppId: "web", LivestreamId: id})
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan livegatev1.LivestreamStatus, 16)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				close(statuses)
				return
			}
			if sc := resp.GetEvent().GetLivestreamStatusChanged(); sc != nil {
				statuses <- sc.GetNewStatus()
			}
		}
	}()
	waitStatus := func(want livegatev1.LivestreamStatus, within time.Duration) {
		t.Helper()
		select {
		case got, ok := <-statuses:
			if !ok || got != want {
				t.Fatalf("subscriber saw %v (open %v), want %v", got, ok, want)
			}
		case <-time.After(within):
			t.Fatalf("subscriber did not see %v within %v", want, within)
		}
	}

	// Push 8 seconds of a test pattern at real-time speed.
	const pushed = 8 * time.Second
	push := exec.CommandContext(ctx, ffmpeg, pushArgs(ingest+"/"+key, pushed)...)
	var pushLog bytes.Buffer
	push.Stderr = &pushLog
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushDone := make(chan error, 1)
	go func() { pushDone <- push.Wait() }()
	waitStatus(livegatev1.LivestreamStatus_LIVE, 20*time.Second)

	// A viewer plays the stream over RTMP, by the livestream's id, for 3 seconds, while
	// the HLS playlist is checked.
	viewCtx, stopView := context.WithTimeout(ctx, 30*time.Second)
	defer stopView()
	view := exec.CommandContext(viewCtx, ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "rtmp://"+rtmpAddr+"/"+nginxconf.PlayApp+"/"+id, "-t", "3", "-f", "null", "-")
	var viewLog bytes.Buffer
	view.Stdout, view.Stderr = &viewLog, &viewLog
	if err := view.Start(); err != nil {
		t.Fatal(err)
	}
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Wait() }()

	// The HLS playlist at playback_url lists segments, under the livestream's id.
	var playlist string
	testenv.WaitFor(t, "an HLS playlist with segments at "+playback, func() bool {
		resp, err := http.Get(playback)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		playlist = string(b)
		return resp.StatusCode == http.StatusOK && strings.Contains(playlist, "#EXTINF")
	})
	if !strings.Contains(playlist, ".ts") {
		t.Errorf("playlist lists no .ts segments:\n%s", playlist)
	}
	if entries, _ := os.ReadDir(filepath.Join(prefix, "hls")); len(entries) != 1 || entries[0].Name() != id {
		t.Errorf("HLS output %v, want one directory named after the livestream id (never the key)", entries)
	}

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
	waitStatus(livegatev1.LivestreamStatus_IDLE, 20*time.Second)

	got := rest(http.MethodGet, "/livestreams/"+id, nil)
	if s := got["livestream"].(map[string]any)["status"]; s != "IDLE" {
		t.Errorf("livestream status %v after the push, want IDLE", s)
	}
	sess := got["session"].(map[string]any)
	ingestSeconds, _ := sess["ingest_seconds"].(float64)
	viewerSeconds, _ := sess["viewer_seconds"].(float64)
	if d := ingestSeconds - pushed.Seconds(); d < -2 || d > 2 {
		t.Errorf("ingest_seconds %.2f, want %v ± 2s", ingestSeconds, pushed.Seconds())
	}
	if viewerSeconds < 1 || viewerSeconds > ingestSeconds {
		t.Errorf("viewer_seconds %.2f, want about 3 (a 3 s viewer)", viewerSeconds)
	}
	t.Logf("pushed %v: ingest_seconds %.2f, viewer_seconds %.2f", pushed, ingestSeconds, viewerSeconds)

	// Refused publishers: a wrong key, and the right key of a disabled livestream. ffmpeg
	// fails, and nothing changes.
	before := rest(http.MethodGet, "/livestreams/"+id, nil)
	feedBefore := feedTypes(t, conn, creds.APIToken)
	refused := func(what, url string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, ffmpeg, pushArgs(url, 2*time.Second)...)
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s: ffmpeg pushed without an error:\n%s", what, b)
		}
	}
	refused("wrong key", ingest+"/not-"+key)
	rest(http.MethodPut, "/livestreams/"+id+"/disable", nil)
	refused("disabled livestream", ingest+"/"+key)
	after := rest(http.MethodGet, "/livestreams/"+id, nil)
	if fmt.Sprint(after["session"]) != fmt.Sprint(before["session"]) || after["livestream"].(map[string]any)["status"] != "IDLE" {
		t.Errorf("a refused publisher changed the livestream:\nbefore %v\nafter  %v", before, after)
	}
	if feedAfter := feedTypes(t, conn, creds.APIToken); strings.Join(feedAfter, " ") != strings.Join(feedBefore, " ") {
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
