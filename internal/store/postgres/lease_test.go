package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// jobRecorder is a job two nodes run under store.RunExclusive: it counts each node's runs
// and notices two runs at once.
type jobRecorder struct {
	running atomic.Int32
	overlap atomic.Int32
	runs    [2]atomic.Int32
}

func (j *jobRecorder) job(node int) func(context.Context) {
	return func(ctx context.Context) {
		if j.running.Add(1) > 1 {
			j.overlap.Add(1)
		}
		select { // a job's work: it stops when its lease is lost
		case <-ctx.Done():
		case <-time.After(15 * time.Millisecond):
		}
		j.runs[node].Add(1)
		j.running.Add(-1)
	}
}

// holder waits until exactly one node runs the job, and says which.
func (j *jobRecorder) holder(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a, b := j.runs[0].Load(), j.runs[1].Load()
		switch {
		case a > 0 && b > 0:
			t.Fatalf("both nodes ran the job (%d and %d runs)", a, b)
		case a >= 3:
			return 0
		case b >= 3:
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no node ran the job")
	return -1
}

// takenOver waits until node runs the job (again) after it had done runs.
func (j *jobRecorder) takenOver(t *testing.T, node int, runs int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for j.runs[node].Load() < runs+2 {
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not take the job over (%d runs)", node, j.runs[node].Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const jobInterval = 50 * time.Millisecond

// startJobs runs the job on two Stores of one database (two nodes) and returns them.
func startJobs(t *testing.T, j *jobRecorder) [2]*Store {
	t.Helper()
	dsn := testenv.PostgresDB(t)
	nodes := [2]*Store{openT(t, dsn), openT(t, dsn)}
	runJobs(t, j, nodes)
	return nodes
}

// runJobs runs the job on the two nodes until t ends.
func runJobs(t *testing.T, j *jobRecorder, nodes [2]*Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i, s := range nodes {
		wg.Go(func() {
			store.RunExclusive(ctx, s, "test-job", jobInterval, j.job(i), func(error) {})
		})
	}
}

// TestLeaseOneNodeThenTakeoverOnClose: two nodes run one job under a lease: only one runs
// it; when that node's store closes, the other takes over, and never are two runs at once.
func TestLeaseOneNodeThenTakeoverOnClose(t *testing.T) {
	var j jobRecorder
	oneNodeThenTakeoverOnClose(t, &j, startJobs(t, &j))
}

// oneNodeThenTakeoverOnClose is TestLeaseOneNodeThenTakeoverOnClose on nodes running j.
func oneNodeThenTakeoverOnClose(t *testing.T, j *jobRecorder, nodes [2]*Store) {
	t.Helper()
	h := j.holder(t)
	time.Sleep(10 * jobInterval)
	other := 1 - h
	if n := j.runs[other].Load(); n != 0 {
		t.Fatalf("node %d ran the job %d times while node %d held it", other, n, h)
	}
	if err := nodes[h].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	j.takenOver(t, other, 0)
	if n := j.overlap.Load(); n != 0 {
		t.Fatalf("the job ran on both nodes at once %d times", n)
	}
}

// TestLeaseTakeoverOnTerminatedSession: when the holder's lease connection is terminated
// from PostgreSQL (pg_terminate_backend), the holder loses the lease and the job goes on
// under a new one, on whichever node takes it first (the old holder is alive and tries
// again too, so it may win it back); never are two runs at once.
func TestLeaseTakeoverOnTerminatedSession(t *testing.T) {
	var j jobRecorder
	nodes := startJobs(t, &j)
	h := j.holder(t)
	other := 1 - h
	key := leaseKey("test-job")
	var ended int
	err := nodes[other].Pool().QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		 WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
		uint32(uint64(key)>>32), uint32(uint64(key))).Scan(&ended)
	if err != nil || ended != 1 {
		t.Fatalf("terminate the lease's session: %d ended, %v", ended, err)
	}
	before := j.runs[0].Load() + j.runs[1].Load()
	deadline := time.Now().Add(10 * time.Second)
	for j.runs[0].Load()+j.runs[1].Load() < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("the job did not go on after its lease's session was terminated (%d runs before, %d and %d now)",
				before, j.runs[0].Load(), j.runs[1].Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := j.overlap.Load(); n != 0 {
		t.Fatalf("the job ran on both nodes at once %d times", n)
	}
	t.Logf("after the termination: node %d (the holder) %d runs, node %d %d runs", h, j.runs[h].Load(), other, j.runs[other].Load())
}

// TestLeaseHeldAndFreed: a second Lease of a held name fails with ErrLeaseHeld; once the
// holder releases it, it can be taken; held ends on release.
func TestLeaseHeldAndFreed(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	a, b := openT(t, dsn), openT(t, dsn)
	ctx := context.Background()
	held, release, err := a.Lease(ctx, "x")
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if _, _, err := b.Lease(ctx, "x"); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("second Lease: %v, want ErrLeaseHeld", err)
	}
	if _, rel, err := b.Lease(ctx, "y"); err != nil {
		t.Fatalf("Lease of another name: %v", err)
	} else {
		rel()
	}
	release()
	if held.Err() == nil {
		t.Fatal("held did not end on release")
	}
	_, rel, err := b.Lease(ctx, "x")
	if err != nil {
		t.Fatalf("Lease after release: %v", err)
	}
	rel()
}

// TestLeaseHeldElsewhereOpensNoSession: trying a lease another node holds is answered
// ErrLeaseHeld through the pool, without opening (and making PostgreSQL start) a session of
// its own: a node holding none of the webhook slots retries 16 of them every 10 s. A free
// lease is still taken on a session of its own.
func TestLeaseHeldElsewhereOpensNoSession(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	a, b := openT(t, dsn), openT(t, dsn)
	ctx := context.Background()
	_, release, err := a.Lease(ctx, "slot")
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	defer release()
	// sessions counts every session ever established to the database (PostgreSQL 14+).
	sessions := func() int64 {
		t.Helper()
		if _, err := b.Pool().Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := b.Pool().QueryRow(ctx, `SELECT sessions FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := sessions()
	for range 20 {
		if _, _, err := b.Lease(ctx, "slot"); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("Lease of a held name: %v, want ErrLeaseHeld", err)
		}
	}
	// The statistics reach pg_stat_database when a session reports them: wait for a free
	// lease's session to show, so that sessions the held tries opened would show too.
	_, rel, err := b.Lease(ctx, "free")
	if err != nil {
		t.Fatalf("Lease of a free name: %v", err)
	}
	rel()
	var opened int64
	testenv.WaitFor(t, "the free lease's session counted", func() bool { opened = sessions() - before; return opened >= 1 })
	time.Sleep(200 * time.Millisecond)
	if opened = sessions() - before; opened > 1 {
		t.Fatalf("20 tries of a held lease and one of a free one opened %d sessions, want 1 (the free one's)", opened)
	}
}

// TestCountLeases: CountLeases counts the leases held under a prefix, by every store on the
// database, and no more once one is released.
func TestCountLeases(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	a, b := openT(t, dsn), openT(t, dsn)
	ctx := context.Background()
	var releases []func()
	for _, lease := range []struct {
		s    *Store
		name string
	}{{a, "nodes/a"}, {b, "nodes/b"}, {a, "jobs/c"}} {
		_, rel, err := lease.s.Lease(ctx, lease.name)
		if err != nil {
			t.Fatalf("Lease %s: %v", lease.name, err)
		}
		releases = append(releases, rel)
	}
	count := func(prefix string) int {
		t.Helper()
		n, err := b.CountLeases(ctx, prefix)
		if err != nil {
			t.Fatalf("CountLeases: %v", err)
		}
		return n
	}
	if n, m := count("nodes/"), count("jobs/"); n != 2 || m != 1 {
		t.Fatalf("CountLeases: nodes/ %d, jobs/ %d; want 2 and 1", n, m)
	}
	releases[0]()
	if n := count("nodes/"); n != 1 {
		t.Fatalf("after a release, CountLeases(nodes/) = %d, want 1", n)
	}
	releases[1]()
	releases[2]()
}
