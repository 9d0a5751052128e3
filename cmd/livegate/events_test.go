package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/event"
)

const tailWait = testenv.Deadline // deadline for anything expected to happen

// testHTTP bounds every request the tests make, so that a stuck server fails the test.
var testHTTP = &http.Client{Timeout: tailWait}

// bounded is a context that ends after tailWait.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), tailWait)
	t.Cleanup(cancel)
	return ctx
}

// liveServer is a real livegate serving on loopback.
type liveServer struct {
	t      *testing.T
	dir    string
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
}

// startLive serves dir on grpcAddr ("127.0.0.1:0" for any port) until stop or the test's end.
func startLive(t *testing.T, dir, grpcAddr string) *liveServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		HTTPAddr:  "127.0.0.1:0",
		GRPCAddr:  grpcAddr,
		AdminAddr: "127.0.0.1:0",
		DataDir:   dir,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	s := &liveServer{t: t, dir: dir, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx) }()
	t.Cleanup(s.stop)
	return s
}

// db opens the server's database beside it, as `livegate apps create` does; it is closed
// when the test ends.
func (s *liveServer) db() store.Store {
	s.t.Helper()
	st, err := server.OpenStore(bounded(s.t), server.StoreConfig{DataDir: s.dir})
	if err != nil {
		s.t.Fatalf("open the server's store: %v", err)
	}
	s.t.Cleanup(func() { _ = st.Close() })
	return st
}

// createApp creates the app acme/web.
func (s *liveServer) createApp() auth.Credentials {
	s.t.Helper()
	creds, err := auth.CreateApp(bounded(s.t), s.db(), store.Tenant{AccountID: "acme", AppID: "web"}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return creds
}

func (s *liveServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve: %v", err)
		}
	case <-time.After(tailWait):
		s.t.Error("server did not stop")
	}
}

// post delivers a 100ms webhook and returns its sequence.
func (s *liveServer) post(creds auth.Credentials, typ, room string) uint64 {
	s.t.Helper()
	seq, _, err := testenv.PostHMS(testHTTP, "http://"+s.srv.HTTPAddr(), creds.AccountID, creds.AppID, creds.WebhookSecret, testenv.HMSDelivery(typ, room))
	if err != nil {
		s.t.Fatalf("post: %v", err)
	}
	return seq
}

// runTail runs `livegate events tail args...` until the test cancels it; the returned
// channel has its result.
func runTail(t *testing.T, args ...string) (stdout, stderr *testenv.SyncBuffer, cancel context.CancelFunc, result <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- run(ctx, append([]string{"events", "tail"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(tailWait):
			t.Error("events tail did not stop")
		}
	})
	return stdout, stderr, cancel, done
}

// printedSequences parses --json lines.
func printedSequences(t *testing.T, lines []string) []uint64 {
	t.Helper()
	var out []uint64
	for _, l := range lines {
		var ev struct {
			Sequence string `json:"sequence"`
			Type     string `json:"type"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Type == "" {
			t.Fatalf("not an event line: %q", l)
		}
		n, err := strconv.ParseUint(ev.Sequence, 10, 64)
		if err != nil {
			t.Fatalf("sequence in %q: %v", l, err)
		}
		out = append(out, n)
	}
	return out
}

// TestEventsTailSurvivesRestart: tail prints every event once, in order, across a server
// restart on the same data directory and gRPC address, resuming by itself.
func TestEventsTailSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s1 := startLive(t, dir, "127.0.0.1:0")
	grpcAddr := s1.srv.GRPCAddr()
	creds := s1.createApp()
	var want []uint64
	want = append(want, s1.post(creds, "peer.join.success", "r1"))

	stdout, stderr, cancel, result := runTail(t, "--server", grpcAddr, "--token", creds.APIToken,
		"--account", "acme", "--app", "web", "--json")
	want = append(want, s1.post(creds, "peer.leave.success", "r1"), s1.post(creds, "peer.join.success", "r2"))
	testenv.WaitFor(t, "the first events", func() bool { return len(stdout.Lines("")) >= len(want) })

	s1.stop()
	s2 := startLive(t, dir, grpcAddr)
	for _, room := range []string{"r3", "r4", "r5"} {
		want = append(want, s2.post(creds, "peer.join.success", room))
	}
	testenv.WaitFor(t, "the events after the restart", func() bool { return len(stdout.Lines("")) >= len(want) })

	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("events tail: %v\nstderr:\n%s", err, stderr)
		}
	case <-time.After(tailWait):
		t.Fatal("events tail did not stop on cancel")
	}
	got := printedSequences(t, stdout.Lines(""))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("printed sequences %v, want %v\nstderr:\n%s", got, want, stderr)
	}
	if !strings.Contains(stderr.String(), "resuming after sequence "+strconv.FormatUint(want[2], 10)) {
		t.Errorf("stderr does not report resuming after %d:\n%s", want[2], stderr)
	}
}

// TestEventsTailFilterAndFormat: filters reach the server; the human line format.
func TestEventsTailFilterAndFormat(t *testing.T) {
	s := startLive(t, t.TempDir(), "127.0.0.1:0")
	creds := s.createApp()
	first := s.post(creds, "peer.join.success", "r1")
	s.post(creds, "peer.leave.success", "r1")
	s.post(creds, "peer.join.success", "r2")
	stdout, _, _, _ := runTail(t, "--server", s.srv.GRPCAddr(), "--token", creds.APIToken,
		"--account", "acme", "--app", "web", "--type", "peer.join.", "--type", "session.open.success", "--room", "r1")
	s.post(creds, "peer.join.success", "r2")
	last := s.post(creds, "session.open.success", "r1")
	testenv.WaitFor(t, "two lines", func() bool { return len(stdout.Lines("")) >= 2 })
	lines := stdout.Lines("")
	want := []string{
		fmt.Sprintf("%d 2026-11-23T10:00:00.000Z peer.join.success hms livestream=- room=r1", first),
		fmt.Sprintf("%d 2026-11-23T10:00:00.000Z session.open.success hms livestream=- room=r1", last),
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("printed:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestEventsTailPermanentErrors: what retrying cannot fix ends the command with an error
// that says so.
func TestEventsTailPermanentErrors(t *testing.T) {
	s := startLive(t, t.TempDir(), "127.0.0.1:0")
	creds := s.createApp()
	for i := 0; i < 4; i++ {
		s.post(creds, "peer.join.success", "r1")
	}
	if err := (event.Retention{MaxEvents: 2}).PruneOnce(bounded(t), s.db(), time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	oldest := oldestSequence(t, s, creds)

	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		wantNot []string
	}{
		{"bad token", []string{"--token", "lgt_nope", "--account", "acme", "--app", "web"}, []string{"UNAUTHENTICATED", "--token"}, nil},
		{"other tenant", []string{"--token", creds.APIToken, "--account", "acme", "--app", "other"}, []string{"PERMISSION_DENIED"}, nil},
		{"bad filter", []string{"--token", creds.APIToken, "--account", "acme", "--app", "web", "--source", "zoom"}, []string{"INVALID_ARGUMENT", "source"}, nil},
		{"old cursor", []string{"--token", creds.APIToken, "--account", "acme", "--app", "web", "--after", "1"}, []string{"OUT_OF_RANGE", "the oldest is " + strconv.FormatUint(oldest, 10)}, []string{"no event"}},
		{"cursor ahead", []string{"--token", creds.APIToken, "--account", "acme", "--app", "web", "--after", "99"}, []string{"OUT_OF_RANGE", "beyond the newest event", "no event 99", "--after 4 for new events"}, []string{"no longer all kept"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, result := runTail(t, append([]string{"--server", s.srv.GRPCAddr()}, tc.args...)...)
			select {
			case err := <-result:
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error %q says %q", err, w)
					}
				}
			case <-time.After(tailWait):
				t.Fatal("events tail kept retrying a permanent error")
			}
		})
	}
}

func oldestSequence(t *testing.T, s *liveServer, creds auth.Credentials) uint64 {
	t.Helper()
	conn, err := grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(bounded(t), "authorization", "Bearer "+creds.APIToken)
	resp, err := livegatev1.NewEventServiceClient(conn).ListEvents(ctx, &livegatev1.ListEventsRequest{AccountId: creds.AccountID, AppId: creds.AppID})
	if err != nil || len(resp.GetEvents()) == 0 {
		t.Fatalf("ListEvents: %v %v", resp, err)
	}
	return resp.GetEvents()[0].GetSequence()
}

func TestEventsTailUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"events"}, &out, &errOut); err == nil || !strings.Contains(errOut.String(), "events tail") {
		t.Errorf("events without tail: %v\n%s", err, errOut.String())
	}
	if err := run(context.Background(), []string{"events", "tail", "--account", "a", "--app", "b", "--token", ""}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("no token: %v", err)
	}
}
