package postgres

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/queries"
	"github.com/livegate/livegate/internal/testenv"
)

// wireProxy forwards TCP connections to a PostgreSQL server and counts the bytes the server
// sent: what crossed the wire to the client.
type wireProxy struct {
	l          net.Listener
	target     string
	fromServer atomic.Int64
	mu         sync.Mutex
	conns      []net.Conn
	wg         sync.WaitGroup
}

// countingProxy starts a wireProxy in front of dsn's server and returns the DSN that goes
// through it. It stops when the test ends (after the stores opened later are closed).
func countingProxy(t *testing.T, dsn string) (string, *wireProxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{l: l, target: u.Host}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	u.Host = l.Addr().String()
	return u.String(), p
}

func (p *wireProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *wireProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client) //nolint:errcheck // ends with either side
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(countingWriter{client, &p.fromServer}, server) //nolint:errcheck // ends with either side
			client.Close()
		}()
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// sent runs fn and returns the bytes the server sent meanwhile.
func (p *wireProxy) sent(fn func()) int64 {
	before := p.fromServer.Load()
	fn()
	return p.fromServer.Load() - before
}

// bigEvents appends n events of size bytes each (incompressible: TOAST stores them out of
// line, uncompressed) for tenant, and returns them as stored.
func bigEvents(t *testing.T, s store.Store, tn store.Tenant, prefix string, n, size int) []*store.Event {
	t.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	var evs []*store.Event
	for i := range n {
		e := event(fmt.Sprintf("%s-%d", prefix, i))
		e.Tenant = tn
		e.Body = make([]byte, size)
		for j := 0; j < size; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				e.Body[j+k] = byte(v >> (8 * k))
			}
		}
		evs = append(evs, e)
	}
	for i := 0; i < n; i += 10 {
		err := s.Update(t.Context(), func(w store.Writer) error {
			for _, e := range evs[i:min(i+10, n)] {
				if err := w.AppendEvent(t.Context(), e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// TestEventsAfterBudgetOnTheWire: the reads of events after a cursor with a byte budget
// (EventsAfterBytes, EachEventAfter, the log follower's tail) have PostgreSQL send the bodies
// within the budget, not every body of their LIMIT, which the client then discards: on 60
// events of 900 KB, a read with a 1 MiB budget moves about one event over the wire, not 54 MB.
func TestEventsAfterBudgetOnTheWire(t *testing.T) {
	dsn, proxy := countingProxy(t, testenv.PostgresDB(t))
	s := openT(t, dsn)
	const (
		n      = 60
		size   = 900_000
		budget = 1 << 20
		slack  = 256 << 10 // the rest of the protocol: row descriptions, other columns, the marker row
	)
	evs := bigEvents(t, s, tenant, "big", n, size)
	// Another tenant's small event in the middle of the log, for the follower.
	other := event("other-tenant")
	other.Tenant = store.Tenant{AccountID: "acct", AppID: "other"}
	if err := appendOne(t.Context(), s, other); err != nil {
		t.Fatal(err)
	}
	evs2 := bigEvents(t, s, tenant, "last", 1, size)
	ctx := t.Context()

	check := func(name string, got []*store.Event, more bool, want []*store.Event, wantMore bool, wire, maxWire int64) {
		t.Helper()
		t.Logf("%s: %d events, more %v, %d bytes from the server", name, len(got), more, wire)
		if len(got) != len(want) {
			t.Errorf("%s: %d events, want %d", name, len(got), len(want))
		} else {
			for i := range got {
				if got[i].Sequence != want[i].Sequence || !bytes.Equal(got[i].Body, want[i].Body) {
					t.Errorf("%s: event %d = sequence %d (%d-byte body), want sequence %d (%d bytes)",
						name, i, got[i].Sequence, len(got[i].Body), want[i].Sequence, len(want[i].Body))
				}
			}
		}
		if more != wantMore {
			t.Errorf("%s: more = %v, want %v", name, more, wantMore)
		}
		if wire > maxWire {
			t.Errorf("%s: the server sent %d bytes, want at most %d (the budget's events)", name, wire, maxWire)
		}
	}
	ptrs := func(es ...store.Event) []*store.Event {
		var out []*store.Event
		for i := range es {
			out = append(out, &es[i])
		}
		return out
	}

	type page struct {
		name  string
		after uint64
		f     store.EventFilter
		limit int
		want  []*store.Event
		more  bool
	}
	pages := []page{
		{"first page", 0, store.EventFilter{}, 1001, evs[:1], true},
		{"middle page, filtered", evs[29].Sequence, store.EventFilter{Types: []string{"hls."}, Sources: []string{"hms"}}, 500, evs[30:31], true},
		{"limit 1", evs[40].Sequence, store.EventFilter{}, 1, evs[41:42], false},
	}
	for _, pg := range pages {
		// EventsAfterBytes, the events API's page and the outbound webhooks' read.
		var got []store.Event
		var more bool
		wire := proxy.sent(func() {
			err := s.View(ctx, func(r store.Reader) error {
				var err error
				got, more, err = r.EventsAfterBytes(ctx, tenant, pg.after, pg.f, pg.limit, budget)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		check("EventsAfterBytes "+pg.name, ptrs(got...), more, pg.want, pg.more, wire, budget+slack)

		// EachEventAfter, a subscriber's replay.
		var each []store.Event
		wire = proxy.sent(func() {
			err := s.View(ctx, func(r store.Reader) error {
				var err error
				more, err = r.EachEventAfter(ctx, tenant, pg.after, pg.f, pg.limit, budget, func(seq uint64, body []byte) error {
					each = append(each, store.Event{Sequence: seq, Body: bytes.Clone(body)})
					return nil
				})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		check("EachEventAfter "+pg.name, ptrs(each...), more, pg.want, pg.more, wire, budget+slack)
	}

	// The log follower's read: every tenant, followBytes (4 MiB) a read.
	perRead := followBytes / size
	var got []store.Event
	var more bool
	wire := proxy.sent(func() {
		var err error
		got, more, err = s.tail(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
	})
	check("tail from the start", ptrs(got...), more, evs[:perRead], true, wire, followBytes+slack)
	wire = proxy.sent(func() {
		var err error
		got, more, err = s.tail(ctx, evs[n-2].Sequence)
		if err != nil {
			t.Fatal(err)
		}
	})
	check("tail at the end", ptrs(got...), more, append(append([]*store.Event{}, evs[n-1], other), evs2...), false, wire, 2*size+slack)

	// A caught-up read costs nothing but the protocol.
	wire = proxy.sent(func() {
		var err error
		got, more, err = s.tail(ctx, evs2[0].Sequence)
		if err != nil {
			t.Fatal(err)
		}
	})
	check("tail caught up", ptrs(got...), more, nil, false, wire, slack)
}

// TestEventsAfterBudgetPlan: the reads within a budget (withinBudget) keep the plan of the
// read they wrap (the same scans and indexes, no sort more), custom or generic, and their
// running total of body sizes reads no body: octet_length of a TOASTed body reads its TOAST pointer. The table holds a tenant's
// 60 events of 900 KB (out of line) and then 20,000 small ones of 50 tenants, it one of them,
// analyzed.
func TestEventsAfterBudgetPlan(t *testing.T) {
	s := openT(t, testenv.PostgresDB(t))
	ctx := t.Context()
	evs := bigEvents(t, s, tenant, "big", 60, 900_000)
	pool := s.Pool()
	if _, err := pool.Exec(ctx, `INSERT INTO events (seq, account_id, app_id, source, type, delivery_id, dedupe_key, received_at, body)
		SELECT 60 + i, CASE WHEN i % 50 = 0 THEN 'acct' ELSE 'acc-' || (i % 50) END, 'app', 'hms', 'peer.join.success', 'd-' || i, 'd-' || i, i, '\x7b7d'::bytea
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE feed_head SET head = (SELECT max(seq) FROM events); ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	var toastPages int64
	if err := pool.QueryRow(ctx, `SELECT pg_relation_size(reltoastrelid) / current_setting('block_size')::int FROM pg_class WHERE relname = 'events'`).Scan(&toastPages); err != nil {
		t.Fatal(err)
	}
	if toastPages < 60*100 {
		t.Fatalf("the TOAST table has %d pages: the bodies are not out of line", toastPages)
	}

	// literal is an argument as SQL, for EXECUTE (the test's arguments need no escaping).
	literal := func(v any) string {
		if s, ok := v.(string); ok {
			return "'" + s + "'"
		}
		return fmt.Sprint(v)
	}
	explain := func(mode, q string, args []any) string {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+mode); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `PREPARE budget_read AS `+q); err != nil {
			t.Fatalf("prepare %s: %v", q, err)
		}
		defer tx.Exec(ctx, `DEALLOCATE budget_read`) //nolint:errcheck // before the rollback
		lits := make([]string, len(args))
		for i, a := range args {
			lits[i] = literal(a)
		}
		rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE budget_read(`+strings.Join(lits, ", ")+`)`, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	// scans lists the plan's scans of events and its indexes.
	scans := func(plan string) []string {
		var out []string
		for _, line := range strings.Split(plan, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->"))
			if strings.Contains(line, "Scan") && strings.Contains(line, " on ") && !strings.HasPrefix(line, "Subquery Scan on budget") {
				out = append(out, line[:strings.Index(line, " (")])
			}
		}
		return out
	}
	// buffers is the pages the whole plan touched (the top node's Buffers line).
	buffers := func(plan string) int64 {
		m := regexp.MustCompile(`Buffers: shared((?: \w+=\d+)+)`).FindStringSubmatch(plan)
		if m == nil {
			t.Fatalf("no Buffers in\n%s", plan)
		}
		var n int64
		for _, kv := range strings.Fields(m[1]) {
			v, _ := strconv.ParseInt(kv[strings.Index(kv, "=")+1:], 10, 64)
			n += v
		}
		return n
	}

	page := `SELECT ` + queries.EventColumns + ` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2` // tail's read
	tailQ := withinBudget(page, queries.EventColumns, `$3`)
	filtered := store.EventFilter{Types: []string{"hls."}, Sources: []string{"hms"}}
	for _, tc := range []struct {
		name        string
		page, q     string
		args        []any
		wantReturns int
	}{
		{"EventsAfterBytes", "", "", nil, 2},
		{"EachEventAfter, filtered", "", "", nil, 2},
		{"tail", page, tailQ, []any{int64(0), followBatch, followBytes}, 5},
	} {
		switch tc.name {
		case "EventsAfterBytes":
			tc.page, _ = queries.EventsAfterQuery(queries.EventColumns, tenant, 0, store.EventFilter{}, 1001)
			tc.q, tc.args = eventsAfterQuery(queries.EventColumns, tenant, 0, store.EventFilter{}, 1001, 1<<20)
		case "EachEventAfter, filtered":
			tc.page, _ = queries.EventsAfterQuery(`seq, body`, tenant, evs[9].Sequence, filtered, 500)
			tc.q, tc.args = eventsAfterQuery(`seq, body`, tenant, evs[9].Sequence, filtered, 500, 1<<20)
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explain(mode, tc.q, tc.args)
			t.Logf("%s, %s:\n%s", tc.name, mode, plan)
			pagePlan := explain(mode, tc.page, tc.args[:len(tc.args)-1])
			if got, want := scans(plan), scans(pagePlan); !slices.Equal(got, want) {
				t.Errorf("%s, %s: scans %q; the read it wraps: %q; want the same", tc.name, mode, got, want)
			}
			if got, want := strings.Count(plan, "Sort Key"), strings.Count(pagePlan, "Sort Key"); got != want {
				t.Errorf("%s, %s: %d sorts, the read it wraps %d", tc.name, mode, got, want)
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s, %s: a sequential scan", tc.name, mode)
			}
			if !strings.Contains(plan, fmt.Sprintf("Subquery Scan on budget (actual rows=%d ", tc.wantReturns)) &&
				!regexp.MustCompile(fmt.Sprintf(`Subquery Scan on budget \(actual time=\S+ rows=%d `, tc.wantReturns)).MatchString(plan) {
				t.Errorf("%s, %s: want %d rows returned (the events within the budget, and the one past it)", tc.name, mode, tc.wantReturns)
			}
			// The bodies of the page span more than 60*110 TOAST pages; reading them for their
			// sizes would touch them all.
			if n := buffers(plan); n > toastPages/8 {
				t.Errorf("%s, %s: %d pages touched, of %d in the TOAST table: the sizes read the bodies", tc.name, mode, n, toastPages)
			}
		}
	}
}

// TestEventsAfterBudgetMatchesClientSide: the budget applied by PostgreSQL returns what the
// budget applied by the client to the plain read (the shared query, ScanEventsBudget) returns:
// the same events and more, for EventsAfterBytes, EachEventAfter and the log follower's read,
// over bodies of 0 to 3,000 bytes, three tenants, filters, limits and budgets around the sizes.
func TestEventsAfterBudgetMatchesClientSide(t *testing.T) {
	s := openT(t, testenv.PostgresDB(t))
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := []store.Tenant{tenant, {AccountID: "acct", AppID: "b"}, {AccountID: "other", AppID: "app"}}
	sizes := []int{0, 1, 100, 500, 500, 1000, 3000}
	err := s.Update(ctx, func(w store.Writer) error {
		for i := range 120 {
			e := event(fmt.Sprintf("m-%d", i))
			e.Tenant = tenants[rng.IntN(len(tenants))]
			if rng.IntN(3) == 0 {
				e.Source, e.Type = "amity", "live.started"
			}
			e.Body = bytes.Repeat([]byte{byte('a' + i%26)}, sizes[rng.IntN(len(sizes))])
			if err := w.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		seqs   []uint64
		bodies [][]byte
		more   bool
	}
	fromEvents := func(es []store.Event, more bool) read {
		r := read{more: more}
		for _, e := range es {
			r.seqs = append(r.seqs, e.Sequence)
			r.bodies = append(r.bodies, e.Body)
		}
		return r
	}
	same := func(a, b read) bool {
		return a.more == b.more && slices.Equal(a.seqs, b.seqs) && slices.EqualFunc(a.bodies, b.bodies, bytes.Equal)
	}
	filters := []store.EventFilter{{}, {Types: []string{"hls."}}, {Sources: []string{"amity"}}, {Types: []string{"live.started", "hls.started"}, Sources: []string{"hms", "amity"}}}
	budgets := []int{1, 99, 100, 101, 500, 999, 1000, 1001, 1600, 2500, 3000, 10_000, 1 << 20}
	limits := []int{1, 2, 3, 7, 50, 1001}
	checked := 0
	err = s.View(ctx, func(r store.Reader) error {
		x := r.(*txn)
		for _, after := range []uint64{0, 1, 17, 60, 118, 119, 120} {
			for _, budget := range budgets {
				for _, limit := range limits {
					// The follower's read, every tenant.
					page := `SELECT ` + queries.EventColumns + ` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`
					rows, err := x.tx.Query(ctx, page, int64(after), limit)
					if err != nil {
						return err
					}
					es, more, err := queries.ScanEventsBudget(rows, "client side", budget)
					if err != nil {
						return err
					}
					want := fromEvents(es, more)
					rows, err = x.tx.Query(ctx, withinBudget(page, queries.EventColumns, `$3`), int64(after), limit, budget)
					if err != nil {
						return err
					}
					es, more, err = queries.ScanEventsKept(rows, "within budget")
					if err != nil {
						return err
					}
					if got := fromEvents(es, more); !same(got, want) {
						t.Errorf("log after %d, limit %d, budget %d: %v more %v; the client-side budget: %v more %v", after, limit, budget, got.seqs, got.more, want.seqs, want.more)
					}
					checked++

					for _, tn := range tenants {
						for _, f := range filters {
							es, more, err := x.Queries.EventsAfterBytes(ctx, tn, after, f, limit, budget)
							if err != nil {
								return err
							}
							want := fromEvents(es, more)
							es, more, err = x.EventsAfterBytes(ctx, tn, after, f, limit, budget)
							if err != nil {
								return err
							}
							if got := fromEvents(es, more); !same(got, want) {
								t.Errorf("EventsAfterBytes %v after %d, %+v, limit %d, budget %d: %v more %v; the client-side budget: %v more %v",
									tn, after, f, limit, budget, got.seqs, got.more, want.seqs, want.more)
							}
							var each read
							each.more, err = x.EachEventAfter(ctx, tn, after, f, limit, budget, func(seq uint64, body []byte) error {
								each.seqs = append(each.seqs, seq)
								each.bodies = append(each.bodies, bytes.Clone(body))
								return nil
							})
							if err != nil {
								return err
							}
							if !same(each, want) {
								t.Errorf("EachEventAfter %v after %d, %+v, limit %d, budget %d: %v more %v; the client-side budget: %v more %v",
									tn, after, f, limit, budget, each.seqs, each.more, want.seqs, want.more)
							}
							checked++
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads compared", checked)
}
