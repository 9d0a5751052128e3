package server_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/feedcheck"
	"github.com/livegate/livegate/internal/testenv"
)

// hostileHMSBodies are 100ms deliveries of an unknown type that fit in the 1 MiB body limit
// but would not fit in the feed: data nested 5,500 levels deep (deeper than protobuf decodes
// back once stored as a google.protobuf.Struct), and an array of 500,000 numbers (about 5.5 MB
// once encoded, over what a gRPC client receives by default).
func hostileHMSBodies() map[string][]byte {
	deep := strings.Repeat(`{"a":`, 5500) + "1" + strings.Repeat("}", 5500)
	wide := `{"a":[1` + strings.Repeat(",1", 499_999) + `]}`
	return map[string][]byte{
		"deep": hmsDelivery("custom.hostile", time.Now(), deep),
		"wide": hmsDelivery("custom.hostile", time.Now(), wide),
	}
}

// TestHostileTenantCostsOthersNothing: while one tenant posts deliveries that are well
// formed but cannot be stored as readable events, another tenant's live subscriber receives
// every event the other tenant was acknowledged, once, in order; the hostile deliveries are
// refused with a 4xx that names the limit ("accepts at most …") (never 200, never 429 or 5xx); and the hostile
// tenant's own feed stays readable.
func TestHostileTenantCostsOthersNothing(t *testing.T) {
	s := startServer(t, t.TempDir())
	victim := newFeedTenant(s, "victim", "app")
	hostile := newFeedTenant(s, "hostile", "app")

	if _, err := postHMS(s.base, hostile, hmsBody("peer.join.success", "room-h", 0)); err != nil {
		t.Fatalf("hostile tenant's ordinary delivery: %v", err)
	}
	sub := newSubscriber(t, "victim live", victim, nil, nil)
	// From cursor 0 (the victim has no events yet), not only_new: only_new starts wherever
	// the head is when the server takes the call, which may be after the first deliveries.
	sub.start(dialFeed(t, s.srv.GRPCAddr()), 0, false)

	acked := victimBesideHostile(t, s, victim, hostile)
	checkVictimReceivedAll(t, s, victim, sub, acked)
	checkHostileFeedReads(t, s, hostile)
}

// The victim's deliveries in TestHostileTenantCostsOthersNothing.
const hostileVictimSenders, hostileVictimPerSender = 8, 10

// victimBesideHostile posts the victim's deliveries while hostile senders post their bodies
// for as long as the victim does, so that their deliveries share group-commit batches with
// the victim's. Every hostile delivery must be refused with a 4xx (not 429) naming the
// limit. It returns the sequences the victim was answered.
func victimBesideHostile(t *testing.T, s *testServer, victim, hostile feedTenant) []uint64 {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acked   []uint64
		done    atomic.Bool
		refused = map[string]map[int]int{} // body kind → HTTP status → count
	)
	for i := range hostileVictimSenders {
		wg.Go(func() {
			for j := range hostileVictimPerSender {
				seq, err := postHMS(s.base, victim, hmsBody("peer.join.success", "room-v", i*hostileVictimPerSender+j))
				if err != nil {
					t.Errorf("victim delivery: %v", err)
					continue
				}
				mu.Lock()
				acked = append(acked, seq)
				mu.Unlock()
			}
		})
	}
	var hwg sync.WaitGroup
	for kind, body := range hostileHMSBodies() {
		for range 2 {
			hwg.Go(func() {
				for !done.Load() {
					code, msg, err := postRaw(s.base+hmsPath(hostile.acc, hostile.app), hostile.secret, body)
					if err != nil {
						t.Errorf("hostile %s delivery: %v", kind, err)
						return
					}
					mu.Lock()
					if refused[kind] == nil {
						refused[kind] = map[int]int{}
					}
					refused[kind][code]++
					mu.Unlock()
					if code < 400 || code >= 500 || code == http.StatusTooManyRequests {
						t.Errorf("hostile %s delivery answered %d: %s", kind, code, msg)
					} else if !strings.Contains(msg, "at most") {
						t.Errorf("hostile %s delivery answered %d without naming the limit: %s", kind, code, msg)
					}
				}
			})
		}
	}
	wg.Wait()
	done.Store(true)
	hwg.Wait()
	t.Logf("hostile deliveries by answer: %v", refused)
	return acked
}

// checkVictimReceivedAll: every acknowledged victim event reaches the live subscriber: the
// last one, and all before it (received is checked against what the store kept, in order,
// exactly once).
func checkVictimReceivedAll(t *testing.T, s *testServer, victim feedTenant, sub *subscriber, acked []uint64) {
	want := slices.Clone(acked)
	if len(want) != hostileVictimSenders*hostileVictimPerSender {
		t.Fatalf("victim got %d acknowledgements, want %d", len(want), hostileVictimSenders*hostileVictimPerSender)
	}
	var last uint64
	for _, seq := range want {
		last = max(last, seq)
	}
	testenv.WaitFor(t, fmt.Sprintf("victim subscriber receives through %d", last), func() bool { return sub.last() >= last })
	got := sub.received()
	slices.Sort(want)
	if r := feedcheck.Received(got, want); len(r.Missing) > 0 {
		t.Errorf("victim's live subscriber missed %d of %d acknowledged events: %s", len(r.Missing), len(want), r)
	}
	checkExactly(t, "victim live", got, storedSeqs(t, s.conn, victim, nil, 0))
}

// checkHostileFeedReads: the hostile tenant's own feed still reads: a list page and the
// NDJSON replay.
func checkHostileFeedReads(t *testing.T, s *testServer, hostile feedTenant) {
	if r := s.rest(http.MethodGet, "/accounts/hostile/realtime/kit/app/events", hostile.token, nil); r.Status != http.StatusOK {
		t.Errorf("hostile tenant's ListEvents: %d %s", r.Status, r.Raw)
	}
	resp, err := http.DefaultClient.Do(mustRequest(t, http.MethodGet, s.base+"/accounts/hostile/realtime/kit/app/events:stream?after_sequence=0", hostile.token))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("hostile tenant's NDJSON stream: %d %s", resp.StatusCode, b)
	}
}

// postRaw posts a 100ms delivery and returns the HTTP status and body.
func postRaw(url, secret string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Secret", secret)
	resp, err := feedHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

func mustRequest(t *testing.T, method, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
