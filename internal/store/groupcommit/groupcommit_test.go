package groupcommit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/livegate/livegate/internal/store"
)

// commitAll is a commit function that runs each Update (with a nil Writer) and answers it
// with its own outcome, recording the group sizes.
type commitAll struct {
	mu     sync.Mutex
	groups []int
	gate   chan struct{} // if not nil, each group waits for it
}

func (c *commitAll) commit(batch []*Update) {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	c.groups = append(c.groups, len(batch))
	c.mu.Unlock()
	for _, u := range batch {
		if err := u.Ctx.Err(); err != nil {
			u.Done(err)
			continue
		}
		u.Done(u.Run(nil))
	}
}

// Every Update gets its own outcome; concurrent ones share groups of at most MaxBatch.
func TestSubmitOutcomesAndGroups(t *testing.T) {
	c := &commitAll{gate: make(chan struct{})}
	q := Start("test", c.commit)
	defer q.Close()
	const n = 300
	errBad := errors.New("bad")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = q.Submit(context.Background(), func(store.Writer) error {
				if i%3 == 0 {
					return errBad
				}
				return nil
			})
		}()
	}
	close(c.gate) // let the first group go once many are queued (or not: either is fine)
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; (err != nil) != want || (err != nil && !errors.Is(err, errBad)) {
			t.Errorf("Update %d: %v", i, err)
		}
	}
	total := 0
	for _, g := range c.groups {
		if g < 1 || g > MaxBatch {
			t.Errorf("a group of %d", g)
		}
		total += g
	}
	if total != n {
		t.Errorf("groups hold %d Updates, want %d", total, n)
	}
}

// A panic in an Update goes on in its caller, not in the committer, which keeps serving.
func TestSubmitRepanicsInCaller(t *testing.T) {
	c := &commitAll{}
	q := Start("test", c.commit)
	defer q.Close()
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		_ = q.Submit(context.Background(), func(store.Writer) error { panic("boom") })
		t.Error("Submit returned after a panic")
	}()
	if err := q.Submit(context.Background(), func(store.Writer) error { return nil }); err != nil {
		t.Errorf("after a panic: %v", err)
	}
}

// A canceled context before queueing cancels; after Close, Submit says the store is closed,
// and Updates still queued at Close are answered so (none is left waiting).
func TestCancelAndClose(t *testing.T) {
	free := Start("test", (&commitAll{}).commit)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := free.Submit(ctx, func(store.Writer) error { ran = true; return nil }); err == nil {
		// The Update may have been queued before the cancellation was seen: then the commit
		// function skips it with ctx's error. Either way it must not run.
		t.Errorf("canceled Update: nil error")
	}
	free.Close()
	if ran {
		t.Error("the canceled Update ran")
	}

	c := &commitAll{gate: make(chan struct{})}
	q := Start("test", c.commit)
	// One Update blocks the committer (the gate); more are queued behind it; Close fails
	// the queued ones once the first group is done.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = q.Submit(context.Background(), func(store.Writer) error { return nil })
		}()
	}
	done := make(chan struct{})
	go func() { q.Close(); close(done) }()
	close(c.gate)
	<-done
	wg.Wait()
	for i, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "test: store is closed") {
			t.Errorf("Update %d: %v", i, err)
		}
	}
	if err := q.Submit(context.Background(), func(store.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "store is closed") {
		t.Errorf("Submit after Close: %v", err)
	}
	q.Close() // idempotent
}
