package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/feedcheck"
	"github.com/livegate/livegate/internal/testenv"
)

// ndjsonFollower records the events of an NDJSON events:stream subscription.
type ndjsonFollower struct {
	mu     sync.Mutex
	seqs   []uint64
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func followNDJSON(t *testing.T, base string, ft feedTenant, after uint64) *ndjsonFollower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := fmt.Sprintf("%s/accounts/%s/realtime/kit/%s/events:stream?after_sequence=%d", base, ft.acc, ft.app, after)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ft.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	f := &ndjsonFollower{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct {
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			msg := &livegatev1.SubscribeResponse{}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Error != nil || protojson.Unmarshal(line.Result, msg) != nil {
				f.mu.Lock()
				f.err = fmt.Errorf("line %s", sc.Text())
				f.mu.Unlock()
				return
			}
			if ev := msg.GetEvent(); ev != nil {
				f.mu.Lock()
				f.seqs = append(f.seqs, ev.GetSequence())
				f.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

func (f *ndjsonFollower) received() ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.seqs...), f.err
}

// appsCreateOn creates a tenant's app with `livegate apps create --database-url dsn`, as an
// operator of several nodes does, and returns it.
func appsCreateOn(t *testing.T, bin, dsn, acc, app string) feedTenant {
	t.Helper()
	out, err := exec.Command(bin, "apps", "create", "--database-url", dsn, "--account", acc, "--app", app).Output()
	if err != nil {
		t.Fatalf("apps create --database-url: %v", err)
	}
	var creds auth.Credentials
	if err := json.Unmarshal(out, &creds); err != nil || creds.APIToken == "" {
		t.Fatalf("apps create printed %q: %v", out, err)
	}
	return feedTenant{acc: acc, app: app, token: creds.APIToken, secret: creds.WebhookSecret}
}

// TestMultiNodePostgres: one PostgreSQL, two `livegate serve --database-url` processes (the
// real binary; node B poll-only), an app created once with `livegate apps create
// --database-url`. Senders post
// deliveries round-robin to both nodes, and some deliveries to both nodes at once. A gRPC
// subscriber starts on node A and moves to node B mid-way from its cursor; an NDJSON
// subscriber stays on node B. Every delivery answered 200 is stored once, under the
// sequence it was answered with (a delivery posted to both nodes at once: one event, both
// answered with its sequence), and each subscriber received exactly the stored events, in
// order.
func TestMultiNodePostgres(t *testing.T) {
	m := newMultiNodePostgres(t)
	m.nginxConfSharesSecret()
	m.subscribe()
	m.send(0)
	m.moveGRPCSubscriber()
	m.send(1)
	if len(m.errs) > 0 {
		t.Fatalf("%d deliveries not answered 200, first: %s", len(m.errs), m.errs[0])
	}
	m.checkStored()
	m.checkSubscribers()
	m.checkGracefulShutdown()
}

// The deliveries of TestMultiNodePostgres: senders × perSender to one node each, and
// mpBoth posted to both nodes at once.
const mpSenders, mpPerSender, mpBoth = 4, 30, 12

// mpDelivery is a 100ms delivery of TestMultiNodePostgres.
type mpDelivery struct {
	id   string
	body []byte
}

// multiNodePostgres is TestMultiNodePostgres' two nodes on one database and what the
// senders were answered; the methods are the steps, called in order.
type multiNodePostgres struct {
	t      *testing.T
	bin    string
	dsn    string
	ft     feedTenant
	nodes  []*process
	bodies [][]mpDelivery
	twice  []mpDelivery

	grpcSub *subscriber
	ndjson  *ndjsonFollower
	stored  []uint64

	mu    sync.Mutex
	acked map[string][]uint64
	errs  []string
}

func newMultiNodePostgres(t *testing.T) *multiNodePostgres {
	m := &multiNodePostgres{t: t, bin: buildLivegate(t), dsn: testenv.PostgresDB(t), acked: map[string][]uint64{}}
	m.ft = appsCreateOn(t, m.bin, m.dsn, "acc-multi", "app-multi")
	m.nodes = []*process{
		startProcess(t, m.bin, t.TempDir(), "--database-url", m.dsn),
		// Poll-only (--database-listen=false): it learns of node A's commits
		// by polling the log every second.
		startProcess(t, m.bin, t.TempDir(), "--database-url", m.dsn, "--database-listen=false"),
	}
	// The deliveries, built here (withID fails the test on a bad body).
	m.bodies = make([][]mpDelivery, mpSenders)
	for s := range m.bodies {
		for i := range mpPerSender {
			id := uuid.NewString()
			m.bodies[s] = append(m.bodies[s], mpDelivery{id, withID(t, hmsBody("peer.join.success", fmt.Sprintf("room-%d", s), i), id)})
		}
	}
	for i := range mpBoth {
		id := uuid.NewString()
		m.twice = append(m.twice, mpDelivery{id, withID(t, hmsBody("peer.leave.success", "room-both", i), id)})
	}
	return m
}

func (m *multiNodePostgres) base(i int) string { return "http://" + m.nodes[i%len(m.nodes)].http }

// nginxConfSharesSecret: rtmp nginx-conf reads the callback secret the nodes share from the
// same database.
func (m *multiNodePostgres) nginxConfSharesSecret() {
	hlsDir := m.t.TempDir()
	var confs []string
	for range 2 {
		out, err := exec.Command(m.bin, "rtmp", "nginx-conf", "--database-url", m.dsn, "--hls-dir", hlsDir).Output()
		if err != nil {
			m.t.Fatalf("rtmp nginx-conf --database-url: %v", err)
		}
		confs = append(confs, string(out))
	}
	if !strings.Contains(confs[0], "on_publish") || confs[0] != confs[1] {
		m.t.Errorf("rtmp nginx-conf --database-url twice: want the same configuration with callbacks (one secret); got\n%s\nand\n%s", confs[0], confs[1])
	}
}

// subscribe starts a gRPC subscriber on node A and an NDJSON one on node B.
func (m *multiNodePostgres) subscribe() {
	m.grpcSub = newSubscriber(m.t, "gRPC A then B", m.ft, nil, nil)
	m.grpcSub.start(dialFeed(m.t, m.nodes[0].grpc), 0, false)
	m.ndjson = followNDJSON(m.t, m.base(1), m.ft, 0)
}

func (m *multiNodePostgres) record(id string, seq uint64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.errs = append(m.errs, fmt.Sprintf("delivery %s: %v", id, err))
		return
	}
	m.acked[id] = append(m.acked[id], seq)
}

// send posts half of the deliveries (round 0 or 1), the senders at the same time across
// both nodes, and returns when all are answered.
func (m *multiNodePostgres) send(round int) {
	var wg sync.WaitGroup
	for s := range mpSenders {
		wg.Go(func() {
			half := mpPerSender / 2
			for i := round * half; i < (round+1)*half; i++ {
				d := m.bodies[s][i]
				seq, err := postHMS(m.base(s+i), m.ft, d.body)
				m.record(d.id, seq, err)
			}
		})
	}
	// The same delivery to both nodes at once, as a provider retry racing the first try.
	for _, d := range m.twice[round*mpBoth/2 : (round+1)*mpBoth/2] {
		for n := range m.nodes {
			wg.Go(func() {
				seq, err := postHMS(m.base(n), m.ft, d.body)
				m.record(d.id, seq, err)
			})
		}
	}
	wg.Wait()
}

// moveGRPCSubscriber: the gRPC subscriber moves to the other node, from its cursor.
func (m *multiNodePostgres) moveGRPCSubscriber() {
	m.grpcSub.stop()
	m.grpcSub.mu.Lock()
	cursor := m.grpcSub.cursor
	m.grpcSub.mu.Unlock()
	m.grpcSub.start(dialFeed(m.t, m.nodes[1].grpc), cursor, false)
}

// checkStored: both nodes list the same events; each delivery is stored once, under its
// answer, and one posted to both nodes at once is answered alike by both.
func (m *multiNodePostgres) checkStored() {
	t := m.t
	m.stored = storedSeqs(t, dialFeed(t, m.nodes[0].grpc), m.ft, nil, 0)
	if other := storedSeqs(t, dialFeed(t, m.nodes[1].grpc), m.ft, nil, 0); feedcheck.Received(other, m.stored).String() != feedcheck.Received(m.stored, m.stored).String() {
		t.Errorf("node B lists %v, node A %v", other, m.stored)
	}
	byID := map[string][]uint64{}
	resp, err := livegatev1.NewEventServiceClient(dialFeed(t, m.nodes[1].grpc)).ListEvents(withToken(m.ft.token),
		&livegatev1.ListEventsRequest{AccountId: m.ft.acc, AppId: m.ft.app, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range resp.GetEvents() {
		byID[ev.GetProviderEventId()] = append(byID[ev.GetProviderEventId()], ev.GetSequence())
	}
	if want := mpSenders*mpPerSender + mpBoth; len(m.stored) != want || len(m.acked) != want {
		t.Errorf("%d events stored, %d deliveries acknowledged; want %d", len(m.stored), len(m.acked), want)
	}
	if r := feedcheck.Acknowledged(m.acked, byID); !r.OK() {
		t.Errorf("acknowledged deliveries against the store: %s", r)
	}
	for _, d := range m.twice {
		if a := m.acked[d.id]; len(a) != 2 || a[0] != a[1] {
			t.Errorf("delivery %s posted to both nodes at once: answered with %v, want two equal sequences", d.id, a)
		}
	}
}

// checkSubscribers: both subscribers received every stored event once, in order.
func (m *multiNodePostgres) checkSubscribers() {
	t, stored := m.t, m.stored
	m.grpcSub.waitCaughtUp(stored)
	checkExactly(t, "gRPC subscriber (node A, then node B from its cursor)", m.grpcSub.received(), stored)
	testenv.WaitFor(t, "NDJSON subscriber on node B catches up", func() bool {
		got, err := m.ndjson.received()
		return err != nil || (len(got) > 0 && got[len(got)-1] >= stored[len(stored)-1])
	})
	got, err := m.ndjson.received()
	if err != nil {
		t.Fatalf("NDJSON subscriber: %v", err)
	}
	checkExactly(t, "NDJSON subscriber on node B", got, stored)
	t.Logf("%d events stored from %d posts to 2 nodes; both subscribers received each once, in order", len(stored), mpSenders*mpPerSender+2*mpBoth)
}

// checkGracefulShutdown: both nodes stop gracefully on SIGTERM.
func (m *multiNodePostgres) checkGracefulShutdown() {
	for _, p := range m.nodes {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range m.nodes {
		select {
		case <-p.done:
			if p.err != nil {
				m.t.Errorf("node %d: graceful shutdown: %v", i, p.err)
			}
		case <-time.After(30 * time.Second):
			m.t.Errorf("node %d: no graceful shutdown within 30s", i)
		}
	}
}

// TestDatabaseURLBadConfiguration: a URL of another scheme, one that cannot be parsed, an
// unreachable server and a wrong password each end `livegate serve` (and `apps create`)
// with a non-zero exit, before it serves, and a message that names the host and never the
// password.
func TestDatabaseURLBadConfiguration(t *testing.T) {
	bin := buildLivegate(t)
	c := testenv.SharedCluster(t)
	dsn := testenv.PostgresDB(t)
	const password = "s3cret-Pa55word"
	// A role that must give its password (the cluster trusts everyone else).
	conn := rawPG(t, dsn)
	if _, err := conn.Exec(t.Context(), `CREATE ROLE livegate_pw LOGIN PASSWORD 'right-password'`); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(c.Dir(), "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all livegate_pw 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(hba, old, 0o600)
		_, _ = conn.Exec(context.Background(), `SELECT pg_reload_conf()`)
		// Roles are the cluster's, not the database's: a second run (-count=2) on the same
		// shared cluster found it there.
		_, _ = conn.Exec(context.Background(), `DROP ROLE IF EXISTS livegate_pw`)
	})
	if _, err := conn.Exec(t.Context(), `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	dbName := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	closed := testenv.FreeAddr(t) // nobody listens there

	for _, tc := range []struct {
		name, url, host string
	}{
		{"bad scheme", "ftp://admin:" + password + "@files.example/x", "files.example"},
		{"unparsable", "postgres://admin:" + password + "@[::1/x", ""},
		{"unreachable", "postgres://admin:" + password + "@" + closed + "/livegate?sslmode=disable&connect_timeout=5", closed},
		{"wrong password", fmt.Sprintf("postgres://livegate_pw:%s@127.0.0.1:%d/%s?sslmode=disable", password, c.Port(), dbName), fmt.Sprintf("127.0.0.1:%d", c.Port())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", tc.url},
				{"apps", "create", "--account", "a", "--app", "b", "--database-url", tc.url},
				{"rtmp", "nginx-conf", "--hls-dir", t.TempDir(), "--database-url", tc.url},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				cmd := exec.CommandContext(ctx, bin, args...)
				out, err := cmd.CombinedOutput()
				cancel()
				msg := string(out)
				if err == nil || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() <= 0 {
					t.Errorf("%s: exit %v, want a non-zero exit; output:\n%s", args[0], err, msg)
				}
				if strings.Contains(msg, password) {
					t.Errorf("%s: the message shows the password:\n%s", args[0], msg)
				}
				if !strings.Contains(msg, tc.host) {
					t.Errorf("%s: the message does not name the host %q:\n%s", args[0], tc.host, msg)
				}
				if strings.Contains(msg, "livegate serving") {
					t.Errorf("%s: it served before failing:\n%s", args[0], msg)
				}
				t.Logf("%s: %s", args[0], strings.TrimSpace(msg))
			}
		})
	}
}

// rawPG is a plain connection to the database at dsn, closed when the test ends.
func rawPG(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
