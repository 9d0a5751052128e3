package feed_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// Follow against a fake replayer (an in-memory log whose appends are published to the hub,
// as the store's commit hook does) and a fake sender that records what it is given. The
// fakes let a test commit events at the exact points Follow is most fragile: between its
// registration and its read of the store, and while its sender is blocked.

// memLog is an in-memory event log: Replayer over it, and commit, which assigns sequences
// and publishes to the hub.
type memLog struct {
	hub *feed.Hub

	mu     sync.Mutex
	events []*livegatev1.Event
	reads  int
	// perRead caps the events one read returns, with more=true when it stops early (as the
	// store does at its byte bound); 0: no cap.
	perRead int
	// beforeRead and afterRead run inside the numbered read (from 1), outside the lock:
	// before the log is read, and after it is read but before the read returns.
	beforeRead, afterRead func(read int)
	// failAt makes reads fail at this sequence (0: never), returning the events before it.
	failAt uint64
	// pruned: a read after a cursor below it fails with errFakeCompacted (as the store's
	// replayer fails with CURSOR_COMPACTED).
	pruned uint64
}

var errFakeCompacted = errors.New("fake: cursor older than retention")

var errFakeUnreadable = errors.New("fake: event unreadable")

func newMemLog() *memLog { return &memLog{hub: feed.NewHub(0)} }

func (l *memLog) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit, _ int) ([]*livegatev1.Event, bool, error) {
	l.mu.Lock()
	l.reads++
	n := l.reads
	before, afterFn := l.beforeRead, l.afterRead
	l.mu.Unlock()
	if before != nil {
		before(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	if after > 0 && after < l.pruned {
		l.mu.Unlock()
		return nil, false, errFakeCompacted
	}
	var out []*livegatev1.Event
	var more bool
	var err error
	for _, ev := range l.events {
		if ev.GetSequence() <= after || ev.GetAccountId() != t.AccountID || ev.GetAppId() != t.AppID || !feed.Match(f, ev) {
			continue
		}
		if l.failAt != 0 && ev.GetSequence() >= l.failAt {
			err = errFakeUnreadable
			break
		}
		if len(out) == limit || (l.perRead > 0 && len(out) == l.perRead) {
			more = true
			break
		}
		out = append(out, ev)
	}
	l.mu.Unlock()
	if afterFn != nil {
		afterFn(n)
	}
	return out, more, err
}

func (l *memLog) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// commit appends events of the tenant of the given types (room "room-1") in one commit,
// publishes them, and returns their sequences.
func (l *memLog) commit(tn store.Tenant, types ...string) []uint64 {
	l.mu.Lock()
	evs := make([]*livegatev1.Event, len(types))
	seqs := make([]uint64, len(types))
	for i, typ := range types {
		seq := uint64(len(l.events) + 1)
		evs[i] = &livegatev1.Event{Sequence: seq, Type: typ, Source: "hms", AccountId: tn.AccountID, AppId: tn.AppID, RoomId: "room-1"}
		l.events = append(l.events, evs[i])
		seqs[i] = seq
	}
	l.mu.Unlock()
	l.hub.Publish(evs)
	return seqs
}

// commitN commits n peer.join.success events of the tenant, one commit each.
func (l *memLog) commitN(tn store.Tenant, n int) []uint64 {
	var seqs []uint64
	for range n {
		seqs = append(seqs, l.commit(tn, "peer.join.success")...)
	}
	return seqs
}

// fakeSender records what Follow delivers. Event may be made to block (gate) or fail.
type fakeSender struct {
	mu         sync.Mutex
	seqs       []uint64
	progress   []uint64
	progressAt []time.Time   // when each progress was sent
	changed    chan struct{} // has a value after each call

	// gateAt blocks Event of this sequence until gate is closed (0: never).
	gateAt  uint64
	gate    chan struct{}
	blocked chan struct{} // closed when Event blocks at gateAt
	// failAt makes Event of this sequence return errSend (0: never).
	failAt uint64
	// checkProgress, if set, is called with each progress head and the events sent so far.
	checkProgress func(head uint64, sent []uint64)
	// delay, if set, is how long each Event takes (a slow reader).
	delay time.Duration
}

var errSend = errors.New("fake: send failed")

func newFakeSender() *fakeSender {
	return &fakeSender{changed: make(chan struct{}, 1), gate: make(chan struct{}), blocked: make(chan struct{})}
}

func (s *fakeSender) Event(ev *livegatev1.Event) error {
	seq := ev.GetSequence()
	time.Sleep(s.delay)
	if s.gateAt != 0 && seq == s.gateAt {
		close(s.blocked)
		<-s.gate
	}
	if s.failAt != 0 && seq == s.failAt {
		return errSend
	}
	s.mu.Lock()
	s.seqs = append(s.seqs, seq)
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *fakeSender) Progress(head uint64) error {
	s.mu.Lock()
	if s.checkProgress != nil {
		s.checkProgress(head, s.seqs)
	}
	s.progress = append(s.progress, head)
	s.progressAt = append(s.progressAt, time.Now())
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *fakeSender) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *fakeSender) got() (events, progress []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seqs), slices.Clone(s.progress)
}

// waitUntil waits until cond holds of what was delivered, or fails the test.
func (s *fakeSender) waitUntil(t *testing.T, what string, cond func(events, progress []uint64) bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		ev, pr := s.got()
		if cond(ev, pr) {
			return
		}
		select {
		case <-s.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; events %v, progress %v", what, ev, pr)
		}
	}
}

// waitEvents waits until exactly want has been delivered (and fails at once on anything
// else: a duplicate, a gap, an order change).
func (s *fakeSender) waitEvents(t *testing.T, want []uint64) {
	t.Helper()
	s.waitUntil(t, fmt.Sprintf("events %v", want), func(ev, _ []uint64) bool {
		if !slices.Equal(ev, want[:min(len(ev), len(want))]) || len(ev) > len(want) {
			t.Fatalf("delivered %v, want exactly %v (in order, no gap, no duplicate)", ev, want)
		}
		return len(ev) == len(want)
	})
}

// startFollow runs Follow on a goroutine until the test ends; the channel gets its result.
func startFollow(t *testing.T, ctx context.Context, l *memLog, f feed.Filter, after uint64, s *fakeSender, opt feed.Options) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- feed.Follow(ctx, l.hub, l, tenantA, f, after, s, opt)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(wait):
			t.Error("Follow did not return after its context ended")
		}
	})
	return done
}

// seqRange is from..to, inclusive.
func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestFollowReplayThenLive: the stored events after the cursor come first, then the live
// ones, each once, in order; the cursor's own event and those before it are not sent.
func TestFollowReplayThenLive(t *testing.T) {
	l := newMemLog()
	l.commitN(tenantA, 5)
	s := newFakeSender()
	startFollow(t, t.Context(), l, feed.Filter{}, 2, s, feed.Options{})
	s.waitEvents(t, seqRange(3, 5))
	l.commitN(tenantA, 3)
	s.waitEvents(t, seqRange(3, 8))
}

// TestFollowReplayLiveOverlap: events committed after Follow registered but before its read
// of the store are in both the read and the live queue: each is sent once. An event
// committed after the read (while the read is still returning) is only in the queue: it is
// sent, with no gap.
func TestFollowReplayLiveOverlap(t *testing.T) {
	l := newMemLog()
	l.commitN(tenantA, 3) // 1..3: stored before Follow
	l.beforeRead = func(read int) {
		if read == 1 {
			l.commitN(tenantA, 3) // 4..6: in the read and in the queue
		}
	}
	l.afterRead = func(read int) {
		if read == 1 {
			l.commitN(tenantA, 1) // 7: in the queue only
		}
	}
	s := newFakeSender()
	startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{})
	s.waitEvents(t, seqRange(1, 7))
	l.commitN(tenantA, 2)
	s.waitEvents(t, seqRange(1, 9))
	if n := l.readCount(); n != 1 {
		t.Errorf("%d store reads, want 1 (no overflow, no re-read)", n)
	}
}

// TestFollowReplayBatches: the store is read in batches of ReplayBatch, and on after a
// short read that says more (the store's byte bound), until it has caught up.
func TestFollowReplayBatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batch   int
		perRead int
	}{
		{"full batches", 2, 0},
		{"short reads with more", 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog()
			l.commitN(tenantA, 11)
			l.perRead = tc.perRead
			s := newFakeSender()
			startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{ReplayBatch: tc.batch})
			s.waitEvents(t, seqRange(1, 11))
			if n := l.readCount(); n < 4 {
				t.Errorf("%d store reads for 11 events, want at least 4", n)
			}
			l.commitN(tenantA, 1)
			s.waitEvents(t, seqRange(1, 12))
		})
	}
}

// TestFollowSlowSubscriberFallsBackToStore: a subscriber that does not read while more
// events are committed than its live queue holds loses its queue; Follow then reads the
// rest from the store and registers again. It gets every event once, in order, and live
// events after that.
func TestFollowSlowSubscriberFallsBackToStore(t *testing.T) {
	l := newMemLog()
	s := newFakeSender()
	s.gateAt = 2
	startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{Queue: 3})
	s.waitUntil(t, "Follow live", func(_, _ []uint64) bool { return l.readCount() == 1 })
	l.commitN(tenantA, 2) // 1 is sent, 2 blocks the sender
	select {
	case <-s.blocked:
	case <-time.After(wait):
		t.Fatal("the sender was not given event 2")
	}
	l.commitN(tenantA, 20) // 3..22: the queue of 3 overflows
	close(s.gate)
	s.waitEvents(t, seqRange(1, 22))
	if n := l.readCount(); n < 2 {
		t.Errorf("%d store reads, want a second one after the overflow", n)
	}
	reads := l.readCount()
	l.commitN(tenantA, 2)
	s.waitEvents(t, seqRange(1, 24))
	if n := l.readCount(); n != reads {
		t.Errorf("events after the catch-up read the store again (%d reads, then %d): not live", reads, n)
	}
}

// TestFollowFilter: only events that match the filter are sent, stored or live; other
// tenants' events never are.
func TestFollowFilter(t *testing.T) {
	l := newMemLog()
	var want []uint64
	want = append(want, l.commit(tenantA, "peer.join.success")...)
	l.commit(tenantA, "room.end.success")
	want = append(want, l.commit(tenantA, "peer.leave.success")...)
	l.commit(tenantB, "peer.join.success")
	s := newFakeSender()
	startFollow(t, t.Context(), l, feed.Filter{Types: []string{"peer."}}, 0, s, feed.Options{})
	s.waitEvents(t, want)
	l.commit(tenantA, "room.end.success")
	l.commit(tenantB, "peer.join.success")
	want = append(want, l.commit(tenantA, "peer.join.success")...)
	s.waitEvents(t, want)
}

// TestFollowProgress: an idle subscriber is told the head moved past events it does not
// get (other tenants', filtered out), never a head below what it was sent, never one past
// an event it was not sent.
func TestFollowProgress(t *testing.T) {
	l := newMemLog()
	l.commit(tenantA, "peer.join.success") // 1
	s := newFakeSender()
	startFollow(t, t.Context(), l, feed.Filter{Types: []string{"peer.join.success"}}, 0, s,
		feed.Options{ProgressEvery: 10 * time.Millisecond})
	s.waitEvents(t, []uint64{1})
	l.commit(tenantB, "peer.join.success") // 2: another tenant
	l.commit(tenantA, "room.end.success")  // 3: filtered out
	s.waitUntil(t, "progress to 3", func(_, pr []uint64) bool { return slices.Contains(pr, 3) })
	l.commit(tenantA, "peer.join.success") // 4
	l.commit(tenantB, "peer.join.success") // 5
	s.waitUntil(t, "event 4 and progress to 5", func(ev, pr []uint64) bool {
		return slices.Contains(ev, 4) && slices.Contains(pr, 5)
	})
	ev, pr := s.got()
	if !slices.Equal(ev, []uint64{1, 4}) {
		t.Errorf("events %v, want [1 4]", ev)
	}
	if !slices.IsSorted(pr) || pr[0] < 1 {
		t.Errorf("progress heads %v: want non-decreasing, at least the last event sent", pr)
	}
}

// unsentBefore returns the first event of the tenant matching f, at or below head, that is
// not in sent (0: none).
func (l *memLog) unsentBefore(tn store.Tenant, f feed.Filter, head uint64, sent []uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.GetSequence() > head {
			break
		}
		if ev.GetAccountId() == tn.AccountID && ev.GetAppId() == tn.AppID && feed.Match(f, ev) && !slices.Contains(sent, ev.GetSequence()) {
			return ev.GetSequence()
		}
	}
	return 0
}

// TestFollowProgressNeverAhead: under a steady stream of commits, some matching and some
// not, every progress head covers only events already sent: a client that resumes from a
// progress head loses nothing.
func TestFollowProgressNeverAhead(t *testing.T) {
	l := newMemLog()
	f := feed.Filter{Types: []string{"peer.join.success"}}
	s := newFakeSender()
	var bad []string
	s.checkProgress = func(head uint64, sent []uint64) {
		if seq := l.unsentBefore(tenantA, f, head, sent); seq != 0 {
			bad = append(bad, fmt.Sprintf("progress head %d before event %d was sent", head, seq))
		}
	}
	startFollow(t, t.Context(), l, f, 0, s, feed.Options{ProgressEvery: time.Millisecond})
	var want []uint64
	for i := range 400 {
		want = append(want, l.commit(tenantA, "peer.join.success")...)
		l.commit(tenantA, "room.end.success")
		if i%4 == 0 {
			time.Sleep(time.Millisecond) // let the ticker fire, with and without events queued
		}
	}
	s.waitEvents(t, want)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d progress heads ahead of the events sent, first: %s", len(bad), bad[0])
	}
	if len(s.progress) == 0 {
		t.Fatal("no progress at all")
	}
}

// TestFollowProgressWaitsForIdle: no progress is sent while events keep being delivered
// (one every few milliseconds, far below ProgressEvery); once they stop, it comes.
func TestFollowProgressWaitsForIdle(t *testing.T) {
	l := newMemLog()
	s := newFakeSender()
	startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{ProgressEvery: 150 * time.Millisecond})
	var want []uint64
	for start := time.Now(); time.Since(start) < 600*time.Millisecond; {
		want = append(want, l.commitN(tenantA, 1)...)
		s.waitEvents(t, want)
		time.Sleep(2 * time.Millisecond)
	}
	if _, pr := s.got(); len(pr) != 0 {
		t.Errorf("progress %v while an event was sent every few milliseconds", pr)
	}
	head := l.commit(tenantB, "peer.join.success")[0]
	s.waitUntil(t, "progress once idle", func(_, pr []uint64) bool { return slices.Contains(pr, head) })
}

// TestFollowProgressInterval: an idle subscriber gets a progress every ProgressEvery
// (jittered down by up to 20%), not one tick late: until 2026-11-29 they came 1.6-2 times
// ProgressEvery apart (8-10 s for the default 5 s). The median of 6 intervals, so that one
// late timer on a busy machine does not decide it.
func TestFollowProgressInterval(t *testing.T) {
	const every = 200 * time.Millisecond
	l := newMemLog()
	l.commitN(tenantA, 1)
	s := newFakeSender()
	start := time.Now()
	startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{ProgressEvery: every})
	s.waitUntil(t, "6 progress messages", func(_, pr []uint64) bool { return len(pr) >= 6 })
	s.mu.Lock()
	at := slices.Clone(s.progressAt[:6])
	s.mu.Unlock()
	gaps := make([]time.Duration, len(at))
	for i, when := range at {
		prev := start
		if i > 0 {
			prev = at[i-1]
		}
		gaps[i] = when.Sub(prev)
	}
	sorted := slices.Sorted(slices.Values(gaps))
	if median := (sorted[2] + sorted[3]) / 2; median < every*4/5 || median > every*3/2 {
		t.Errorf("progress every %v (median; intervals %v), want %v less up to 20%%", median, gaps, every)
	}
}

// TestFollowEnds: how Follow ends, and what it has sent by then.
func TestFollowEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup prepares the log and the sender; end ends the Follow (nil: it ends by itself).
		setup   func(l *memLog, s *fakeSender)
		end     func(l *memLog, cancel context.CancelFunc)
		wantErr error
		want    []uint64 // events sent by then
	}{
		{
			name:    "context cancelled while live",
			setup:   func(l *memLog, s *fakeSender) { l.commitN(tenantA, 2) },
			end:     func(_ *memLog, cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
			want:    seqRange(1, 2),
		},
		{
			name: "context cancelled while replaying",
			setup: func(l *memLog, s *fakeSender) {
				l.commitN(tenantA, 5)
				s.gateAt = 3
			},
			wantErr: context.Canceled,
			want:    seqRange(1, 4), // 4 was read with 3; the next read sees the end
		},
		{
			name:    "hub shut down",
			setup:   func(l *memLog, s *fakeSender) { l.commitN(tenantA, 2) },
			end:     func(l *memLog, _ context.CancelFunc) { l.hub.Shutdown() },
			wantErr: feed.ErrShutdown,
			want:    seqRange(1, 2),
		},
		{
			name: "send fails",
			setup: func(l *memLog, s *fakeSender) {
				l.commitN(tenantA, 5)
				s.failAt = 4
			},
			wantErr: errSend,
			want:    seqRange(1, 3),
		},
		{
			name: "send fails live",
			setup: func(l *memLog, s *fakeSender) {
				s.failAt = 2
				l.afterRead = func(read int) {
					if read == 1 {
						l.commitN(tenantA, 3) // live only
					}
				}
			},
			wantErr: errSend,
			want:    seqRange(1, 1),
		},
		{
			name: "stored event unreadable",
			setup: func(l *memLog, s *fakeSender) {
				l.commitN(tenantA, 5)
				l.failAt = 4
			},
			wantErr: errFakeUnreadable,
			want:    seqRange(1, 3),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog()
			s := newFakeSender()
			tc.setup(l, s)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := startFollow(t, ctx, l, feed.Filter{}, 0, s, feed.Options{ReplayBatch: 2})
			if s.gateAt != 0 {
				select {
				case <-s.blocked:
				case <-time.After(wait):
					t.Fatalf("Follow did not reach event %d", s.gateAt)
				}
				cancel()
				close(s.gate)
			} else if tc.end != nil {
				s.waitEvents(t, tc.want)
				tc.end(l, cancel)
			}
			waitFollowEnd(t, done, tc.wantErr)
			if ev, _ := s.got(); !slices.Equal(ev, tc.want) {
				t.Errorf("sent %v, want %v", ev, tc.want)
			}
		})
	}
}

// TestFollowEndsWhileIdle: a subscription waiting for live events, with nothing queued and
// no progress message due for an hour, ends as soon as its context ends or the hub shuts
// down.
func TestFollowEndsWhileIdle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(*memLog, context.CancelFunc)
		wantErr error
	}{
		{"context cancelled", func(_ *memLog, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"hub shut down", func(l *memLog, _ context.CancelFunc) { l.hub.Shutdown() }, feed.ErrShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog()
			l.commitN(tenantA, 1)
			s := newFakeSender()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := startFollow(t, ctx, l, feed.Filter{}, 0, s, feed.Options{ProgressEvery: time.Hour})
			s.waitEvents(t, seqRange(1, 1))
			time.Sleep(100 * time.Millisecond) // it waits for the next event
			start := time.Now()
			tc.end(l, cancel)
			waitFollowEnd(t, done, tc.wantErr)
			t.Logf("ended %v after", time.Since(start))
		})
	}
}

// waitFollowEnd waits for the Follow whose outcome done gives to end with wantErr.
func waitFollowEnd(t *testing.T, done <-chan error, wantErr error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, wantErr) {
			t.Fatalf("Follow returned %v, want %v", err, wantErr)
		}
	case <-time.After(wait):
		t.Fatalf("Follow did not end within %v", wait)
	}
}

// TestFollowRecheck: Recheck is called while the subscription follows live events, whether
// events keep it busy or it idles, and its error ends the Follow with that error after
// what was sent.
func TestFollowRecheck(t *testing.T) {
	revoked := errors.New("credentials revoked")
	for _, busy := range []bool{false, true} {
		t.Run(fmt.Sprintf("busy=%v", busy), func(t *testing.T) {
			l := newMemLog()
			l.commitN(tenantA, 2)
			s := newFakeSender()
			var calls atomic.Int32
			var fail atomic.Bool
			done := startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{
				ProgressEvery: 10 * time.Millisecond,
				Recheck: func() error {
					calls.Add(1)
					if fail.Load() {
						return revoked
					}
					return nil
				},
			})
			s.waitEvents(t, seqRange(1, 2))
			stop := make(chan struct{})
			defer close(stop)
			if busy {
				// An event every millisecond: the stream is never idle for a progress tick.
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
							l.commit(tenantA, "peer.join.success")
						}
					}
				}()
			}
			testenv.WaitFor(t, "rechecks while live", func() bool { return calls.Load() >= 3 })
			select {
			case err := <-done:
				t.Fatalf("Follow ended while its credentials held: %v", err)
			default:
			}
			fail.Store(true)
			select {
			case err := <-done:
				if !errors.Is(err, revoked) {
					t.Fatalf("Follow ended with %v, want the recheck's error", err)
				}
			case <-time.After(wait):
				t.Fatal("Follow went on after its recheck failed")
			}
		})
	}
}

// TestFollowRecheckWhileCatchingUp: the recheck also runs while the subscription replays a
// backlog to a slow reader, and while it keeps falling back to the store because its queue
// overflows faster than its progress tick comes. Until 2026-11-29 only the live tick
// rechecked: this stop's feed audit read on for 17 s, and counting, after a token was
// revoked with no grace, because its replay of 10,000 events to a slow reader never reached
// a tick.
func TestFollowRecheckWhileCatchingUp(t *testing.T) {
	revoked := errors.New("credentials revoked")
	for _, tc := range []struct {
		name  string
		queue int
	}{{"replay", 0}, {"falling back again and again", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog()
			l.commitN(tenantA, 3000)
			s := newFakeSender()
			s.delay = time.Millisecond // 3,000 events: at least 3 s to catch up
			var fail atomic.Bool
			stop := make(chan struct{})
			defer close(stop)
			if tc.queue > 0 {
				// Events faster than the reader takes them: its queue of 2 overflows at once,
				// and again after each catch-up.
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Microsecond):
							l.commit(tenantA, "peer.join.success")
						}
					}
				}()
			}
			start := time.Now()
			done := startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{
				Queue:         tc.queue,
				ReplayBatch:   50,
				ProgressEvery: 50 * time.Millisecond,
				Recheck: func() error {
					if fail.Load() {
						return revoked
					}
					return nil
				},
			})
			s.waitUntil(t, "the catch-up under way", func(ev, _ []uint64) bool { return len(ev) >= 100 })
			fail.Store(true)
			select {
			case err := <-done:
				if !errors.Is(err, revoked) {
					t.Fatalf("Follow ended with %v, want the recheck's error", err)
				}
			case <-time.After(2 * time.Second):
				ev, _ := s.got()
				t.Fatalf("Follow went on for 2 s after its recheck failed (every 50 ms), %d events delivered in %s", len(ev), time.Since(start).Round(time.Millisecond))
			}
			if ev, _ := s.got(); len(ev) >= 3000 {
				t.Errorf("the whole backlog (%d events) was delivered before the recheck ended it", len(ev))
			}
		})
	}
}

// TestFollowGapEndsAtTheStore: the hub's feeder fell behind retention (a node stalled while
// the others pruned), so events after what it published were pruned before it read them.
// Told of the gap (Hub.Gap) before it publishes what follows, the hub sends every
// subscription to the store, where the replayer's compaction error ends it: the subscriber
// is not carried past events it never got. Until 2026-11-29 nothing told the hub, and a live
// subscriber went on after the gap as if there were none.
func TestFollowGapEndsAtTheStore(t *testing.T) {
	l := newMemLog()
	s := newFakeSender()
	done := startFollow(t, context.Background(), l, feed.Filter{}, 0, s, feed.Options{})
	first := l.commitN(tenantA, 3)
	s.waitEvents(t, first)
	// Four more are committed and not published (the feeder is stalled); retention then
	// prunes through the third of them.
	l.mu.Lock()
	var after []*livegatev1.Event
	for range 4 {
		seq := uint64(len(l.events) + 1)
		ev := &livegatev1.Event{Sequence: seq, Type: "peer.join.success", Source: "hms", AccountId: tenantA.AccountID, AppId: tenantA.AppID, RoomId: "room-1"}
		l.events = append(l.events, ev)
		after = append(after, ev)
	}
	l.pruned = after[2].GetSequence()
	l.events = l.events[l.pruned:]
	l.mu.Unlock()
	l.hub.Gap(l.pruned)
	l.hub.Publish(after[3:])
	waitFollowEnd(t, done, errFakeCompacted)
	if got, _ := s.got(); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("sent %v, want only %v: nothing after the gap", got, first)
	}
}

// TestFollowAccepted: Options.Accepted is called once, after the first store read and
// before anything is sent, with the read's error when it failed with nothing to deliver
// (Follow then ends with it), nil otherwise. An error from Accepted ends Follow with nothing
// sent.
func TestFollowAccepted(t *testing.T) {
	for _, c := range []struct {
		name       string
		events     int
		failAt     uint64
		refuse     error
		wantCalls  int
		wantEvents []uint64
		wantErr    error
		wantRead   error // the read error Accepted is told
	}{
		{name: "nothing stored", wantCalls: 1},
		{name: "events stored", events: 3, wantCalls: 1, wantEvents: seqRange(1, 3)},
		{name: "unreadable at the cursor", events: 3, failAt: 1, wantCalls: 1, wantErr: errFakeUnreadable, wantRead: errFakeUnreadable},
		{name: "unreadable after two", events: 3, failAt: 3, wantCalls: 1, wantEvents: seqRange(1, 2), wantErr: errFakeUnreadable},
		{name: "refused", events: 3, refuse: errors.New("header refused"), wantCalls: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newMemLog()
			l.commitN(tenantA, c.events)
			l.failAt = c.failAt
			s := newFakeSender()
			var calls int
			var sentBefore []uint64
			var told error
			accepted := func(readErr error) error {
				calls++
				sentBefore, _ = s.got()
				told = readErr
				return c.refuse
			}
			done := startFollow(t, t.Context(), l, feed.Filter{}, 0, s, feed.Options{Accepted: accepted})
			if c.wantErr != nil || c.refuse != nil {
				want := c.wantErr
				if want == nil {
					want = c.refuse
				}
				waitFollowEnd(t, done, want)
				if got, _ := s.got(); !slices.Equal(got, c.wantEvents) {
					t.Errorf("sent %v, want %v", got, c.wantEvents)
				}
			} else {
				s.waitEvents(t, c.wantEvents)
				l.commitN(tenantA, 1) // live now: Accepted is not called again
				s.waitEvents(t, append(c.wantEvents, uint64(c.events+1)))
			}
			if calls != c.wantCalls || len(sentBefore) != 0 || !errors.Is(told, c.wantRead) || (c.wantRead == nil && told != nil) {
				t.Errorf("Accepted called %d times, with %v sent before, told %v; want %d, before anything was sent, told %v", calls, sentBefore, told, c.wantCalls, c.wantRead)
			}
		})
	}
}
