package event

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/metrics"
	"github.com/livegate/livegate/internal/rawcodec"
)

// sender writes feed.Follow's output to the stream from a goroutine other than the
// handler's, so that a subscriber that stops reading cannot hold the handler: a gRPC Send
// blocks while the client's flow-control window is full, and returns only once the handler
// has returned and the stream is finished (etcd's watch server runs its sendLoop apart for
// the same reason). Follow may run a few messages ahead of the Send in flight (aheadMessages,
// aheadBytes); a message that still cannot be taken after the stall timeout ends the stream
// with SUBSCRIBER_STALLED.
//
// The send goroutine runs only while there is something to send: it starts with a message
// and returns when none is waiting, so an idle subscription costs no goroutine of its own.
type sender struct {
	ctx context.Context
	// stream is where messages go: the call's stream, or the transport's own stream under
	// it when the server has metrics.Subscriptions first in its chain (SubscribeSender).
	stream metrics.MsgSender
	stall  time.Duration
	timer  *time.Timer // made at the first hand-off that has to wait

	done <-chan struct{} // ctx.Done(), taken once (it walks the context's chain)

	mu       sync.Mutex
	inflight bool  // a send goroutine is running
	pending  []out // messages waiting for it, in order
	bytes    int   // their size
	spare    []out // the buffer the last send goroutine gave back, for the next

	taken  chan struct{} // signalled when pending is taken or the goroutine returns
	failed chan struct{} // closed when a Send failed; err says why
	err    error
	// sent is the cursor of what the transport has taken: the last event's sequence or
	// progress head whose Send returned. The client gets all of it before the stream's end.
	sent atomic.Uint64
}

// out is a message to send: a *livegatev1.SubscribeResponse, or one already encoded (a
// *rawcodec.Message, which the server's codec sends as it is); and the cursor it moves to.
type out struct {
	msg      any
	seq      uint64 // the event's sequence, or the progress head
	progress bool
}

func newSender(ctx context.Context, stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse], after uint64, stall time.Duration) *sender {
	s := &sender{ctx: ctx, done: ctx.Done(), stream: metrics.SubscribeSender(ctx), stall: stall, taken: make(chan struct{}, 1), failed: make(chan struct{})}
	s.sent.Store(after)
	if s.stream == nil {
		s.stream = stream
	}
	return s
}

// run sends batch and then whatever is waiting, until nothing is.
func (s *sender) run(batch []out) {
	for {
		for _, m := range batch {
			if err := s.stream.SendMsg(m.msg); err != nil {
				s.err = err
				close(s.failed)
				return
			}
			if !m.progress {
				s.sent.Store(m.seq)
			} else {
				s.sent.Store(max(s.sent.Load(), m.seq))
			}
		}
		clear(batch)
		s.mu.Lock()
		batch, s.pending, s.bytes = s.pending, batch[:0], 0
		if len(batch) == 0 {
			s.inflight = false
			s.spare = batch // empty: the next goroutine's batch
		}
		s.mu.Unlock()
		s.signal()
		if len(batch) == 0 {
			return
		}
	}
}

func (s *sender) signal() {
	select {
	case s.taken <- struct{}{}:
	default:
	}
}

// wait waits for the send goroutine to take a message or return, at most the stall timeout.
func (s *sender) wait() error {
	if s.timer == nil {
		s.timer = time.NewTimer(s.stall)
	} else {
		s.timer.Reset(s.stall)
	}
	defer s.timer.Stop()
	select {
	case <-s.taken:
		return nil
	case <-s.failed:
		return s.err
	case <-s.done:
		return s.ctx.Err()
	case <-s.timer.C:
		after := strconv.FormatUint(s.sent.Load(), 10)
		return apierror.New(apierror.ReasonSubscriberStalled,
			"the subscriber has not read for %v: the stream ends after sequence %s; resume with after_sequence=%s (or the last sequence received)",
			s.stall, after, after).With("after_sequence", after)
	}
}

// Follow may run ahead of the Send in flight by this many messages, or bytes of them (past
// the first).
const (
	aheadMessages = 16
	aheadBytes    = 256 << 10
)

func (s *sender) hand(msg out) error {
	size := -1
	for {
		s.mu.Lock()
		if !s.inflight {
			s.inflight = true
			batch := append(s.spare, msg)
			s.spare = nil
			s.mu.Unlock()
			go s.run(batch)
			return nil
		}
		if size < 0 {
			if m, ok := msg.msg.(*rawcodec.Message); ok {
				size = m.Len()
			} else {
				size = proto.Size(msg.msg.(proto.Message))
			}
		}
		if len(s.pending) == 0 || len(s.pending) < aheadMessages && s.bytes+size <= aheadBytes {
			s.pending = append(s.pending, msg)
			s.bytes += size
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		// A Send is in flight and as much as may wait for it does.
		if err := s.wait(); err != nil {
			return err
		}
	}
}

// flush waits, at most the stall timeout, for what was handed over to be sent: a stream
// that ends with an error delivers everything before it first.
func (s *sender) flush() {
	deadline := time.Now().Add(s.stall)
	for {
		s.mu.Lock()
		idle := !s.inflight
		s.mu.Unlock()
		if idle || time.Now().After(deadline) {
			return
		}
		if s.wait() != nil {
			return
		}
	}
}

func (s *sender) Event(ev *livegatev1.Event) error {
	return s.hand(out{msg: &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: ev}}, seq: ev.GetSequence()})
}

// encodedSender is a sender on a server whose codec sends a *rawcodec.Message as it is: it
// sends an event's encoding, made once for every subscriber, when it has one.
type encodedSender struct{ *sender }

var _ feed.ItemSender = encodedSender{}

func (s encodedSender) Item(it *feed.Item) error {
	if it.Encoded == nil {
		return s.Event(it.Event)
	}
	return s.hand(out{msg: it.Encoded, seq: it.Sequence})
}

func (s *sender) Progress(head uint64) error {
	return s.hand(out{msg: &livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Progress{Progress: &livegatev1.Progress{HeadSequence: head}}}, seq: head, progress: true})
}
