package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/livegate/livegate/internal/store"
)

// TestCommitSpans: a traced caller's write is a child span of the caller's, "<store>
// commit", ending when the caller is answered, with the size of the batch it was committed
// in and its error; an untraced caller's write makes no span.
func TestCommitSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	// A commit function that tells when it takes a batch and holds it until gate closes.
	taken, gate := make(chan int, 8), make(chan struct{})
	q := Start("test", func(batch []*Update) {
		taken <- len(batch)
		<-gate
		for _, u := range batch {
			u.Done(u.Run(nil))
		}
	})
	defer q.Close()
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // before q.Close, even when the test fails

	// Three traced writes and one untraced, queued while a first batch is being committed:
	// they make the second batch (4 writes).
	first := make(chan error, 1)
	go func() { first <- q.Submit(context.Background(), func(store.Writer) error { return nil }) }()
	if n := <-taken; n != 1 {
		t.Fatalf("first batch of %d", n)
	}
	var wg sync.WaitGroup
	parents := make([]string, 3)
	failed := errors.New("constraint violated")
	for i := range 3 {
		ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
		parents[i] = parent.SpanContext().SpanID().String()
		wg.Go(func() {
			defer parent.End()
			err := q.Submit(ctx, func(store.Writer) error {
				if i == 2 {
					return failed
				}
				return nil
			})
			if (i == 2) != (err != nil) {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Go(func() { _ = q.Submit(context.Background(), func(store.Writer) error { return nil }) })
	waitQueued(t, q, 4)
	release()
	wg.Wait()
	if n := <-taken; n != 4 {
		t.Fatalf("second batch of %d, want 4", n)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	var commits []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "test commit" {
			commits = append(commits, s)
		}
	}
	if len(commits) != 3 {
		t.Fatalf("%d commit spans, want one per traced write (3)", len(commits))
	}
	for _, s := range commits {
		var parentOK bool
		for _, p := range parents {
			parentOK = parentOK || s.Parent().SpanID().String() == p
		}
		if !parentOK {
			t.Errorf("commit span %s is not a child of a caller's span", s.SpanContext().SpanID())
		}
		if got := attr(s.Attributes(), BatchSizeAttribute); got.AsInt64() != 4 {
			t.Errorf("commit span batch size %v, want 4", got)
		}
		if len(s.Events()) == 0 || s.Events()[0].Name != "batch taken for commit" {
			t.Errorf("commit span events %v", s.Events())
		}
	}
	var errored int
	for _, s := range commits {
		if s.Status().Code == codes.Error && s.Status().Description == failed.Error() {
			errored++
		}
	}
	if errored != 1 {
		t.Errorf("%d commit spans with the write's error, want 1", errored)
	}
}

func attr(attrs []attribute.KeyValue, key string) attribute.Value {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// waitQueued waits until n Updates wait in q's queue.
func waitQueued(t *testing.T, q *Queue, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(q.queue) == n {
			return
		}
	}
	t.Fatalf("%d updates queued, want %d", len(q.queue), n)
}
