package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/feedcheck"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// follower records what FollowLog delivers, and the gaps it reports.
type follower struct {
	mu   sync.Mutex
	seqs []uint64
	gaps []uint64
}

func (f *follower) gap(prunedThrough uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gaps = append(f.gaps, prunedThrough)
}

func (f *follower) fn(events []store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range events {
		f.seqs = append(f.seqs, e.Sequence)
	}
}

func (f *follower) last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seqs) == 0 {
		return 0
	}
	return f.seqs[len(f.seqs)-1]
}

func (f *follower) got() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.seqs...)
}

// startFollowing runs s.FollowLog from after until the test ends.
func startFollowing(t *testing.T, s *Store, after uint64) *follower {
	f := &follower{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.FollowLog(ctx, after, f.fn, f.gap) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("FollowLog returned %v, want context.Canceled", err)
		}
	})
	return f
}

// storedSeqs lists every stored sequence in order.
func storedSeqs(t *testing.T, dsn string) []uint64 {
	t.Helper()
	rows, err := rawConn(t, dsn).Query(t.Context(), `SELECT seq FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, uint64(s))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFollowed waits until f has delivered through head.
func waitFollowed(t *testing.T, f *follower, head uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for f.last() < head {
		if time.Now().After(deadline) {
			t.Fatalf("the follower delivered through %d, the store holds %d, after %v", f.last(), head, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminateListeners ends every backend LISTENing for the feed (as an operator's
// pg_terminate_backend would) and reports how many it ended.
func terminateListeners(t *testing.T, dsn string) int {
	t.Helper()
	var n int
	err := rawConn(t, dsn).QueryRow(t.Context(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()`,
		"LISTEN "+FeedChannel).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFollowLogThreeWriters: three Stores on one database append concurrently, as three
// nodes would; a fourth follows the log. Meanwhile its LISTEN connection is terminated from
// PostgreSQL and the cluster is restarted. The follower delivers every stored event, in
// order, with no gap and no duplicate, and every append acknowledged is among them; it
// needed no restart.
func TestFollowLogThreeWriters(t *testing.T) {
	w := newThreeWriters(t)
	w.startWriters()
	w.waitAcked(100)
	w.terminateListener()
	w.waitAcked(w.ackedCount() + 100)
	// The whole cluster restarts under the writers and the follower.
	if err := w.c.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitAcked(w.ackedCount() + 100)
	w.stop.Store(true)
	w.wg.Wait()
	w.checkFollowedEverything()
	w.checkListensAgain()
}

// threeWriters is TestFollowLogThreeWriters' cluster, three writer stores and two
// followers (LISTEN and poll-only); the methods are the steps, called in order.
type threeWriters struct {
	t       *testing.T
	c       *testenv.Cluster
	dsn     string
	writers []*Store
	f, fp   *follower
	stop    atomic.Bool
	acked   sync.Map // seq -> key
	wg      sync.WaitGroup
}

func newThreeWriters(t *testing.T) *threeWriters {
	c, err := testenv.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	dsn, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w := &threeWriters{t: t, c: c, dsn: dsn, writers: []*Store{openT(t, dsn), openT(t, dsn), openT(t, dsn)}}
	reader := openT(t, dsn)
	// Something before the follower starts: it must begin after it.
	if err := appendOne(t.Context(), w.writers[0], event("before")); err != nil {
		t.Fatal(err)
	}
	w.f = startFollowing(t, reader, 1)
	// The second one, to check that following with the listener works in both modes.
	pollOnly := openT(t, dsn)
	pollOnly.SetListen(false)
	w.fp = startFollowing(t, pollOnly, 0)
	return w
}

// startWriters starts three appenders per writer store, appending until w.stop; an append
// that fails (the database is away) is retried as a new one.
func (w *threeWriters) startWriters() {
	for n, s := range w.writers {
		for g := range 3 {
			w.wg.Go(func() {
				for i := 0; !w.stop.Load(); i++ {
					e := event(fmt.Sprintf("w%d-g%d-%d", n, g, i))
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := appendOne(ctx, s, e)
					cancel()
					if err != nil {
						time.Sleep(20 * time.Millisecond) // the database is away; go on
						continue
					}
					w.acked.Store(e.Sequence, e.DedupeKey)
				}
			})
		}
	}
}

func (w *threeWriters) ackedCount() int {
	n := 0
	w.acked.Range(func(any, any) bool { n++; return true })
	return n
}

func (w *threeWriters) waitAcked(n int) {
	deadline := time.Now().Add(20 * time.Second)
	for w.ackedCount() < n {
		if time.Now().After(deadline) {
			w.t.Fatalf("only %d appends acknowledged, want %d", w.ackedCount(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminateListener kills the listener connection: it reconnects, and nothing is lost.
func (w *threeWriters) terminateListener() {
	deadline := time.Now().Add(10 * time.Second)
	for terminateListeners(w.t, w.dsn) == 0 {
		if time.Now().After(deadline) {
			w.t.Fatal("no LISTEN connection to terminate")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkFollowedEverything: both followers received every stored event after their cursor,
// in order, and every acknowledged append is stored.
func (w *threeWriters) checkFollowedEverything() {
	t := w.t
	stored := storedSeqs(t, w.dsn)
	head := stored[len(stored)-1]
	waitFollowed(t, w.f, head, 15*time.Second)
	waitFollowed(t, w.fp, head, 15*time.Second)
	if r := feedcheck.Received(w.f.got(), stored[1:]); !r.OK() {
		t.Errorf("the follower (LISTEN and poll) against the store: %v", r)
	}
	if r := feedcheck.Received(w.fp.got(), stored); !r.OK() {
		t.Errorf("the poll-only follower against the store: %v", r)
	}
	storedSet := map[uint64]bool{}
	for _, s := range stored {
		storedSet[s] = true
	}
	w.acked.Range(func(k, v any) bool {
		if !storedSet[k.(uint64)] {
			t.Errorf("append %v was acknowledged with sequence %d, which is not stored", v, k)
		}
		return true
	})
	t.Logf("%d events stored, %d appends acknowledged, all followed in order", len(stored), w.ackedCount())
}

// checkListensAgain: the listener came back after the restart: a LISTEN connection is
// there again.
func (w *threeWriters) checkListensAgain() {
	deadline := time.Now().Add(15 * time.Second)
	for terminateListeners(w.t, w.dsn) == 0 {
		if time.Now().After(deadline) {
			w.t.Fatal("the follower did not LISTEN again after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFollowLogWakesOnNotify: a follower whose Store commits nothing itself delivers another
// Store's commit, once (no assertion on how fast: the poll would deliver it too).
func TestFollowLogWakesOnNotify(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	writer, reader := openT(t, dsn), openT(t, dsn)
	f := startFollowing(t, reader, 0)
	// Wait until the listener is there, so that the NOTIFY reaches it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := rawConn(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE query = $1`, "LISTEN "+FeedChannel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no LISTEN connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e := event("notified")
	if err := appendOne(t.Context(), writer, e); err != nil {
		t.Fatal(err)
	}
	waitFollowed(t, f, e.Sequence, 10*time.Second)
	if got := f.got(); len(got) != 1 || got[0] != e.Sequence {
		t.Errorf("followed %v, want [%d]", got, e.Sequence)
	}
}

// TestFollowLogReportsRetentionGap: a follower behind retention (a stalled node) finds the
// events after its cursor pruned. It says so (gap, with the sequence pruned through) before
// it delivers the events after the gap, so that its hub's subscribers are not carried past
// events they never got. Until 2026-11-29 it went on after the gap as if there were none:
// a node stopped for 80 s let its live subscribers skip 8,338 acknowledged events, with no
// error.
func TestFollowLogReportsRetentionGap(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	writer, reader := openT(t, dsn), openT(t, dsn)
	var seqs []uint64
	for i := range 10 {
		e := event(fmt.Sprintf("gap-%d", i))
		if err := appendOne(t.Context(), writer, e); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Sequence)
	}
	// Keep the last 4: everything through seqs[5] goes.
	if err := writer.Update(t.Context(), func(w store.Writer) error {
		_, err := w.PruneEvents(t.Context(), time.Time{}, 4, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f := startFollowing(t, reader, seqs[1]) // it had delivered through seqs[1]
	waitFollowed(t, f, seqs[9], 10*time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.gaps) != 1 || f.gaps[0] != seqs[5] {
		t.Errorf("gaps reported %v, want [%d] (pruned through)", f.gaps, seqs[5])
	}
	if want := seqs[6:]; fmt.Sprint(f.seqs) != fmt.Sprint(want) {
		t.Errorf("followed %v, want %v", f.seqs, want)
	}
	// A follower that is not behind reports no gap.
	g := startFollowing(t, reader, seqs[5])
	waitFollowed(t, g, seqs[9], 10*time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.gaps) != 0 {
		t.Errorf("a follower at the watermark reported gaps %v", g.gaps)
	}
}
