package server_test

import (
	"bytes"
	"context"
	"encoding/json"

	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// testServer is a real livegate on loopback ports, with a gRPC client of it.
type testServer struct {
	t      testing.TB
	dir    string
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
	conn   *grpc.ClientConn
	base   string // http://127.0.0.1:port
	// log has everything the server logged, one JSON object per line (see logLines).
	log *testenv.SyncBuffer
	// storeCfg is the server's store; db opens a handle of the test's own on it.
	storeCfg server.StoreConfig
	dbOnce   sync.Once
	dbErr    error
	store    store.Store

	livestreams livegatev1.LivestreamServiceClient
	analytics   livegatev1.AnalyticsServiceClient
}

const (
	testIngestBase   = "rtmp://ingest.test:1935/live"
	testPlaybackBase = "http://play.test/hls"
)

// startServer serves livegate with its store in dir, until the test ends or stop is called,
// with its configuration tuned by each of tune (nil ones are skipped). Everything it logs is
// kept in its log.
func startServer(t testing.TB, dir string, tune ...func(*server.Config)) *testServer {
	t.Helper()
	cfg := server.Config{
		HTTPAddr:     "127.0.0.1:0",
		GRPCAddr:     "127.0.0.1:0",
		DataDir:      dir,
		IngestBase:   testIngestBase,
		PlaybackBase: testPlaybackBase,
	}
	for _, f := range tune {
		if f != nil {
			f(&cfg)
		}
	}
	logBuf := &testenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	s := &testServer{t: t, dir: dir, srv: srv, cancel: cancel, done: make(chan error, 1), base: "http://" + srv.HTTPAddr(), log: logBuf,
		storeCfg: server.StoreConfig{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL}}
	go func() { s.done <- srv.Serve(ctx) }()
	s.conn = dialFeed(t, srv.GRPCAddr())
	s.livestreams = livegatev1.NewLivestreamServiceClient(s.conn)
	s.analytics = livegatev1.NewAnalyticsServiceClient(s.conn)
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down gracefully and waits for it; it is idempotent.
func (s *testServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	_ = s.conn.Close()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("server did not stop within 30s")
	}
}

// db is the test's own handle of the server's database, opened once (as `livegate apps
// create` opens it beside a running server) and closed when the test ends. What is written
// through it is not published to the server's live subscribers (a SQLite server learns of
// its own commits only): to append events a subscriber must get live, use
// server.StoreOf(s.srv), the server's own store.
func (s *testServer) db() store.Store {
	s.t.Helper()
	s.dbOnce.Do(func() {
		s.store, s.dbErr = server.OpenStore(context.Background(), s.storeCfg)
		if s.dbErr == nil {
			st := s.store
			s.t.Cleanup(func() { _ = st.Close() })
		}
	})
	if s.dbErr != nil {
		s.t.Fatalf("open the server's store: %v", s.dbErr)
	}
	return s.store
}

// createApp creates a tenant's app, as `livegate apps create` does.
func (s *testServer) createApp(account, app string) auth.Credentials {
	s.t.Helper()
	creds, err := auth.CreateApp(context.Background(), s.db(), store.Tenant{AccountID: account, AppID: app}, time.Now())
	if err != nil {
		s.t.Fatalf("create app: %v", err)
	}
	return creds
}

// withToken returns a context sending token as gRPC bearer credentials.
func withToken(token string) context.Context {
	ctx := context.Background()
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// restResponse is a REST answer: status and decoded JSON body.
type restResponse struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

// rest sends a real HTTP request; body is JSON-encoded unless it is a string or []byte.
func (s *testServer) rest(method, path, token string, body any) restResponse {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	out := restResponse{Status: resp.StatusCode, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			s.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// errorMessage returns the message of a REST error envelope, failing the test if the body
// is not one.
func (r restResponse) errorMessage(t testing.TB) string {
	t.Helper()
	code, message, _ := envelope(t, r.Raw)
	if code != r.Status {
		t.Errorf("envelope code %d, HTTP status %d", code, r.Status)
	}
	return message
}

// data returns the "data" object of a success envelope.
func (r restResponse) data(t testing.TB) map[string]any {
	t.Helper()
	if r.Body["success"] != true {
		t.Fatalf("not a success envelope: %s", r.Raw)
	}
	d, ok := r.Body["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object: %s", r.Raw)
	}
	return d
}

// logLines are the lines of the server's log with this message, decoded.
func (s *testServer) logLines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range s.log.Lines("") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
