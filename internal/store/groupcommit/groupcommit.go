// Package groupcommit runs a store's concurrent write transactions in groups, the way both
// of livegate's stores commit (internal/store/sqlite, internal/store/postgres).
//
// Update calls queue their function; one committer goroutine takes whatever is queued (up
// to MaxBatch, in arrival order) and hands the group to the store's commit function, which
// runs each function in one transaction under a savepoint of its own (so that one failing
// function undoes only its own writes) and commits once. Many writes then share one commit
// and its fsync, and each Update returns only after that commit, with its own outcome.
//
// The queue knows nothing about transactions; the store's commit function owns them. What
// the queue guarantees: every Update submitted is answered exactly once (by the commit
// function, or with "store is closed" if the queue closed before the Update was taken);
// an Update whose caller gives up while its function may already be running still waits
// for the outcome, so that no caller is told "failed" about a write that commits; a panic
// in a function goes on in its caller, not in the committer.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/livegate/livegate/internal/store"
)

// MaxBatch bounds how many Updates one transaction commits together.
const MaxBatch = 256

// Update is one queued write: the caller's context and function.
type Update struct {
	// Ctx is the caller's context: the commit function skips an Update whose Ctx is done
	// before its Fn runs, and gives Fn this context.
	Ctx context.Context
	// Fn is the write, run by the commit function inside the transaction.
	Fn func(store.Writer) error

	done     chan error
	panicked any        // what Fn panicked with; Submit re-panics with it in the caller
	span     trace.Span // the caller's commit span, nil when the caller is not traced
}

// Run runs Fn on w, turning a panic into an error (and remembering it for the caller).
func (u *Update) Run(w store.Writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			u.panicked = p
			err = fmt.Errorf("update panicked: %v", p)
		}
	}()
	return u.Fn(w)
}

// Panicked reports whether Fn panicked: its writes must be rolled back like a failure's.
func (u *Update) Panicked() bool { return u.panicked != nil }

// Done answers the Update's caller with the outcome of its write. The commit function
// calls it exactly once for every Update of its group, after the commit (or the failure).
func (u *Update) Done(err error) { u.done <- err }

// Queue is a store's write queue and its committer goroutine.
type Queue struct {
	name      string // the store's name, in errors ("sqlite: store is closed")
	queue     chan *Update
	stop      chan struct{}
	committed chan struct{} // closed when the committer has exited
	stopOnce  sync.Once
	observe   atomic.Pointer[func(writes int, d time.Duration)]
}

// Observe sets fn to be told, after each group is committed (or has failed), how many
// Updates it held and how long commit took (metrics). Nil: nobody.
func (q *Queue) Observe(fn func(writes int, d time.Duration)) {
	if fn == nil {
		q.observe.Store(nil)
		return
	}
	q.observe.Store(&fn)
}

// Start starts the committer, which hands each group of queued Updates (1 to MaxBatch, in
// arrival order) to commit, one group at a time. commit must call Done on each Update.
func Start(name string, commit func([]*Update)) *Queue {
	q := &Queue{
		name:      name,
		queue:     make(chan *Update, MaxBatch),
		stop:      make(chan struct{}),
		committed: make(chan struct{}),
	}
	go q.run(commit)
	return q
}

func (q *Queue) closedErr() error { return errors.New(q.name + ": store is closed") }

// Submit queues fn and waits for the outcome of its commit. A context canceled before fn
// runs cancels the Update; once fn may be running, Submit waits for the commit whatever
// happens to ctx. If fn panicked, Submit panics with the same value.
//
// When ctx carries a recording span (the caller is traced), the write gets a child span,
// "<store> commit", from Submit to its answer: the time queued and the batch's commit, with
// the batch's size (see traceCommit).
func (q *Queue) Submit(ctx context.Context, fn func(store.Writer) error) (err error) {
	var span trace.Span
	if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, q.name+" commit",
			trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attribute.String("db.system.name", q.name)))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
	}
	u := &Update{Ctx: ctx, Fn: fn, done: make(chan error, 1), span: span}
	select {
	case q.queue <- u:
	case <-q.stop:
		return q.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err = <-u.done:
	case <-q.committed:
		// The committer has exited: it either answered u before it did, or never took it.
		select {
		case err = <-u.done:
		default:
			return q.closedErr()
		}
	}
	if u.panicked != nil {
		panic(u.panicked)
	}
	return err
}

// Closing is closed when Close has been called.
func (q *Queue) Closing() <-chan struct{} { return q.stop }

// Close stops the committer once the group it is committing (if any) is done, fails the
// Updates still queued, and waits for it to exit. It is idempotent.
func (q *Queue) Close() {
	q.stopOnce.Do(func() { close(q.stop) })
	<-q.committed
}

func (q *Queue) run(commit func([]*Update)) {
	defer close(q.committed)
	batch := make([]*Update, 0, MaxBatch)
	for {
		select {
		case u := <-q.queue:
			batch = append(batch[:0], u)
		case <-q.stop:
			// Fail what is still queued; Submit callers are waiting.
			for {
				select {
				case u := <-q.queue:
					u.Done(q.closedErr())
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < MaxBatch {
			select {
			case u := <-q.queue:
				batch = append(batch, u)
			default:
				break fill
			}
		}
		start := time.Now()
		traceCommit(batch)
		commit(batch)
		if fn := q.observe.Load(); fn != nil {
			(*fn)(len(batch), time.Since(start))
		}
		clear(batch) // the Updates' functions may hold large values
	}
}

// tracerName is the instrumentation scope of commit spans.
const tracerName = "github.com/livegate/livegate/internal/store/groupcommit"

// BatchSizeAttribute is the commit span attribute holding how many writes the caller's
// batch committed together.
const BatchSizeAttribute = "livegate.commit.batch_size"

// traceCommit marks, on the span of each traced Update of batch, when its batch was taken
// for commit and how many writes it holds: the span runs from Submit to the answer, so the
// time before the event is queueing (behind the previous batch), the time after it is the
// shared transaction and commit.
//
// One batch commits the writes of many callers, each in a trace of its own. Each caller
// gets its commit as a child span in its own trace (rather than the batch getting one span
// linked to every caller): a trace then shows the commit in the request's waterfall, and a
// span exists only for callers their sampler chose, never for a batch of unsampled ones.
func traceCommit(batch []*Update) {
	for _, u := range batch {
		if u.span != nil {
			u.span.SetAttributes(attribute.Int(BatchSizeAttribute, len(batch)))
			u.span.AddEvent("batch taken for commit")
		}
	}
}
