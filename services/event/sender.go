package event

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
)

// sender writes feed.Follow's output to the stream from a goroutine of its own, so that a
// subscriber that stops reading cannot hold the handler: a gRPC Send blocks while the
// client's flow-control window is full, and returns only once the handler has returned and
// the stream is finished (as etcd's watch server does with its sendLoop). A message that
// cannot be handed to the send goroutine within the stall timeout (the previous Send is
// still blocked) ends the stream with SUBSCRIBER_STALLED.
type sender struct {
	ctx    context.Context
	stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse]
	stall  time.Duration
	timer  *time.Timer // made at the first hand-off that has to wait

	out    chan *livegatev1.SubscribeResponse // unbuffered: a hand-off means the last Send returned
	failed chan struct{}                      // closed when a Send failed; err says why
	err    error
	done   chan struct{} // closed when the send goroutine has returned
	once   sync.Once
	// sent is the cursor of what the transport has taken: the last event's sequence or
	// progress head whose Send returned. The client gets all of it before the stream's end.
	sent atomic.Uint64
}

func newSender(ctx context.Context, stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse], after uint64, stall time.Duration) *sender {
	s := &sender{ctx: ctx, stream: stream, stall: stall, out: make(chan *livegatev1.SubscribeResponse), failed: make(chan struct{}), done: make(chan struct{})}
	s.sent.Store(after)
	go s.loop()
	return s
}

func (s *sender) loop() {
	defer close(s.done)
	for msg := range s.out {
		if err := s.stream.Send(msg); err != nil {
			s.err = err
			close(s.failed)
			return
		}
		if ev := msg.GetEvent(); ev != nil {
			s.sent.Store(ev.GetSequence())
		} else {
			s.sent.Store(max(s.sent.Load(), msg.GetProgress().GetHeadSequence()))
		}
	}
}

// close ends the send goroutine once it is idle; a Send blocked on a client that does not
// read returns when the handler has returned.
func (s *sender) close() { s.once.Do(func() { close(s.out) }) }

// flush closes the sender and waits for what was handed over to be sent (so a stream that
// ends with an error delivers everything before it first), at most the stall timeout.
func (s *sender) flush() {
	s.close()
	t := time.NewTimer(s.stall)
	defer t.Stop()
	select {
	case <-s.done:
	case <-s.ctx.Done():
	case <-t.C:
	}
}

func (s *sender) hand(msg *livegatev1.SubscribeResponse) error {
	select {
	case s.out <- msg:
		return nil
	default:
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.stall)
	} else {
		s.timer.Reset(s.stall)
	}
	defer s.timer.Stop()
	select {
	case s.out <- msg:
		return nil
	case <-s.failed:
		return s.err
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-s.timer.C:
		after := strconv.FormatUint(s.sent.Load(), 10)
		return apierror.New(apierror.ReasonSubscriberStalled,
			"the subscriber has not read for %v: the stream ends after sequence %s; resume with after_sequence=%s (or the last sequence received)",
			s.stall, after, after).With("after_sequence", after)
	}
}

func (s *sender) Event(ev *livegatev1.Event) error {
	return s.hand(&livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: ev}})
}

func (s *sender) Progress(head uint64) error {
	return s.hand(&livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Progress{Progress: &livegatev1.Progress{HeadSequence: head}}})
}
