package gateway

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

func testEvent(t *testing.T, seq uint64, note string) *livegatev1.Event {
	t.Helper()
	raw, err := structpb.NewStruct(map[string]any{"note": note, "n": float64(seq)})
	if err != nil {
		t.Fatal(err)
	}
	return &livegatev1.Event{Sequence: seq, Id: fmt.Sprint("e-", seq), Type: "custom.thing", Source: "hms",
		AccountId: "acc", AppId: "app", Payload: &livegatev1.Event_Unknown{Unknown: &livegatev1.UnknownPayload{Raw: raw}}}
}

// TestStreamedEventLineUnchanged: an NDJSON line of an event, from the shared rendering, is
// byte for byte what grpc-gateway's JSONPb writes for the message, HTML-significant and
// line-separator characters included; the SSE data is the same JSON, on one line.
func TestStreamedEventLineUnchanged(t *testing.T) {
	m := streamLabeled{JSONPb: Marshaler, events: newEventJSON(16, 1<<20)}
	for i, note := range []string{"plain", `<script>&"quoted"</script>`, "line\u2028sep\u2029", "ünïcödé\nnewline"} {
		resp := &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: testEvent(t, uint64(i+1), note)}}
		chunk := map[string]any{"result": resp}
		want, err := Marshaler.Marshal(chunk)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // rendered, then from the cache
			got, err := m.Marshal(chunk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("note %q: line\n got %s\nwant %s", note, got, want)
			}
		}
		frame, err := appendSSEMessage(nil, resp, m.events)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(frame, []byte("\ndata: ")); n != 1 {
			t.Errorf("note %q: SSE frame has %d data lines, want 1:\n%s", note, n, frame)
		}
	}
}

// TestEventJSONRendersOnceAndStaysBounded: many subscribers asking for one event at once
// share one rendering; the cache holds at most its entries and (past one entry) its bytes.
func TestEventJSONRendersOnceAndStaysBounded(t *testing.T) {
	c := newEventJSON(8, 1<<20)
	ev := testEvent(t, 1, "shared")
	got := make([]*renderedEvent, 50)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			e, err := c.get(ev)
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		})
	}
	wg.Wait()
	for i, e := range got {
		if e != got[0] {
			t.Fatalf("subscriber %d got its own rendering, not the shared one", i)
		}
	}

	for seq := uint64(2); seq < 1000; seq++ {
		if _, err := c.get(testEvent(t, seq, "x")); err != nil {
			t.Fatal(err)
		}
		if n, _ := c.len(); n > 8 {
			t.Fatalf("after event %d the cache holds %d entries, want at most 8", seq, n)
		}
	}
	one, _ := c.get(testEvent(t, 5000, "size"))
	small := newEventJSON(1000, 3*one.size())
	for seq := uint64(1); seq < 1000; seq++ {
		if _, err := small.get(testEvent(t, seq, "size")); err != nil {
			t.Fatal(err)
		}
		if _, b := small.len(); b > 3*one.size() {
			t.Fatalf("after event %d the cache holds %d bytes, want at most %d", seq, b, 3*one.size())
		}
	}
	// An evicted event is rendered again, the same.
	again, err := c.get(ev)
	if err != nil || again == got[0] || !bytes.Equal(again.line, got[0].line) {
		t.Errorf("event 1 after eviction: %p (was %p), %v; want a new, equal rendering", again, got[0], err)
	}
}
