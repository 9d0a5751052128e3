package gateway

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// fakeEvents is an EventServiceClient whose Subscribe streams what the test sends.
type fakeEvents struct {
	livegatev1.EventServiceClient
	msgs chan *livegatev1.SubscribeResponse
	req  chan *livegatev1.SubscribeRequest
	md   chan metadata.MD
}

func (f *fakeEvents) Subscribe(ctx context.Context, in *livegatev1.SubscribeRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[livegatev1.SubscribeResponse], error) {
	f.req <- in
	md, _ := metadata.FromOutgoingContext(ctx)
	f.md <- md
	return &fakeStream{ctx: ctx, msgs: f.msgs}, nil
}

type fakeStream struct {
	grpc.ClientStream
	ctx  context.Context
	msgs chan *livegatev1.SubscribeResponse
}

func (s *fakeStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }

func (s *fakeStream) Recv() (*livegatev1.SubscribeResponse, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

// TestSSEFramesAndHeartbeat: heartbeats while the stream is silent, progress as a comment
// with an id, an event type that would break the framing is cleaned, the token from
// access_token, and Last-Event-ID over after_sequence (turning only_new off).
func TestSSEFramesAndHeartbeat(t *testing.T) {
	fake := &fakeEvents{
		msgs: make(chan *livegatev1.SubscribeResponse),
		req:  make(chan *livegatev1.SubscribeRequest, 1),
		md:   make(chan metadata.MD, 1),
	}
	h := &sseHandler{mux: runtime.NewServeMux(), client: fake, heartbeat: 20 * time.Millisecond, startWait: time.Minute}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, map[string]string{"account_id": "acc", "app_id": "app"})
	}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?access_token=tok&after_sequence=3&only_new=true&type=a.&type=b&source=hms&room_id=r", nil)
	req.Header.Set("Last-Event-ID", "41")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != SSEContentType {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := <-fake.req
	if got.GetAfterSequence() != 41 || got.GetOnlyNew() || strings.Join(got.GetType(), ",") != "a.,b" ||
		strings.Join(got.GetSource(), ",") != "hms" || got.GetRoomId() != "r" || got.GetAccountId() != "acc" {
		t.Errorf("request %v", got)
	}
	if md := <-fake.md; strings.Join(md.Get("authorization"), ",") != "Bearer tok" {
		t.Errorf("authorization %q", md.Get("authorization"))
	}

	r := bufio.NewReader(resp.Body)
	readUntil := func(want string) string {
		t.Helper()
		var seen strings.Builder
		for !strings.HasSuffix(seen.String(), want) {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading for %q: %v; read %q", want, err, seen.String())
			}
			seen.WriteString(line)
		}
		return seen.String()
	}
	readUntil(": heartbeat\n\n")
	readUntil(": heartbeat\n\n") // and again: it repeats while nothing happens

	fake.msgs <- &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Progress{Progress: &livegatev1.Progress{HeadSequence: 57}}}
	readUntil(": progress 57\nid: 57\n\n")

	fake.msgs <- &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: &livegatev1.Event{Sequence: 58, Type: "x\r\ndata: forged\n"}}}
	frame := readUntil("\n\n")
	frame = frame[strings.Index(frame, "id: 58"):]
	if !strings.HasPrefix(frame, "id: 58\nevent: xdata: forged\ndata: {") || strings.Count(frame, "\n") != 4 {
		t.Errorf("frame %q", frame)
	}
}

func TestSSEDataLines(t *testing.T) {
	got := string(appendSSEData(nil, []byte("a\nb\r\nc")))
	if got != "data: a\ndata: b\ndata: c\n\n" {
		t.Errorf("%q", got)
	}
}

// TestSSEEventNames: a provider's type that EventSource would take for its own events
// (error, message, open, or none at all, which is a message) is named x-<type>; any other,
// stripped of line breaks, is the event name. (The feed audit: a 100ms delivery of type
// "error" reached a page's error listener, with data, as if the stream had failed.)
func TestSSEEventNames(t *testing.T) {
	for typ, want := range map[string]string{
		"peer.join.success": "peer.join.success",
		"error":             "x-error",
		"message":           "x-message",
		"open":              "x-open",
		"":                  "x-",
		"\r":                "x-",
		"err\nor":           "x-error",
		"Error":             "Error",
	} {
		m := &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: &livegatev1.Event{Sequence: 7, Type: typ}}}
		b, err := appendSSEMessage(nil, m, newEventJSON(16, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\nevent: "+want+"\n") {
			t.Errorf("type %q: %q, want event name %q", typ, b, want)
		}
	}
}
