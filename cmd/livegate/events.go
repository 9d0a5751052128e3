package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
)

// Reconnect backoff of `events tail`: the first retry waits about minBackoff, each failed
// attempt doubles it up to maxBackoff, and a stream that delivered anything resets it.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// eventsTail follows the app's event feed over gRPC and prints each event as it arrives,
// resuming by itself after a dropped connection or a server restart.
func eventsTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate events tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := envString(fs, "server", "LIVEGATE_SERVER", "localhost:9090", "livegate gRPC address HOST:PORT (plaintext: no TLS)")
	token := envSecret(fs, "token", "LIVEGATE_TOKEN", "the app's API token", nil)
	account := fs.String("account", "", "account id")
	app := fs.String("app", "", "app id")
	var types, sources stringList
	fs.Var(&types, "type", "event type, exact or a prefix ending in '.' (hls.); repeatable, any may match")
	fs.Var(&sources, "source", "event source: hms, amity, rtmp, livegate; repeatable, any may match")
	livestream := fs.String("livestream", "", "only events about this livestream id")
	room := fs.String("room", "", "only events about this 100ms room id")
	after := fs.Uint64("after", 0, "start after this sequence (0: from the oldest event kept)")
	asJSON := fs.Bool("json", false, "print each event as one line of JSON instead of a summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("events tail: unexpected argument %q", fs.Arg(0))
	case *token == "":
		return errors.New("events tail: --token (or LIVEGATE_TOKEN) is required")
	case *account == "" || *app == "":
		return errors.New("events tail: --account and --app are required")
	}

	conn, err := grpc.NewClient(*server,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect on tail's schedule; gRPC's default backoff grows to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		return fmt.Errorf("events tail: %w", err)
	}
	defer conn.Close()

	p := &eventPrinter{w: stdout, json: *asJSON}
	return tailEvents(ctx, livegatev1.NewEventServiceClient(conn), tailOptions{
		Token: *token,
		Request: &livegatev1.SubscribeRequest{
			AccountId:     *account,
			AppId:         *app,
			AfterSequence: *after,
			Type:          types,
			Source:        sources,
			LivestreamId:  *livestream,
			RoomId:        *room,
		},
		OnEvent: p.print,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, "livegate: events tail: "+format+"\n", args...)
		},
	})
}

// tailOptions configure tailEvents.
type tailOptions struct {
	// Token is the bearer token sent with every attempt.
	Token string
	// Request names the tenant and the filter; its AfterSequence is the starting cursor.
	Request *livegatev1.SubscribeRequest
	// OnEvent receives each event once, in sequence order; an error from it ends the tail.
	OnEvent func(*livegatev1.Event) error
	// Logf reports each reconnection.
	Logf func(format string, args ...any)
	// MinBackoff and MaxBackoff bound the wait between attempts (0: 200ms and 5s).
	MinBackoff, MaxBackoff time.Duration
}

// sinkError is an error of OnEvent: not the server's, never retried.
type sinkError struct{ err error }

func (e sinkError) Error() string { return e.err.Error() }
func (e sinkError) Unwrap() error { return e.err }

// tailEvents subscribes and hands every event to OnEvent exactly once and in order, across
// reconnections: after a dropped stream (UNAVAILABLE, a transport error, a server restart,
// anything transient) it subscribes again after the last sequence it saw (an event's or a
// progress message's), with a jittered exponential backoff. It returns nil when ctx ends,
// and an error on what retrying cannot fix: a refused token, another tenant, a bad request,
// a cursor older than what the server keeps, or an OnEvent error.
func tailEvents(ctx context.Context, client livegatev1.EventServiceClient, opt tailOptions) error {
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = minBackoff
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = maxBackoff
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", bearerValue(opt.Token))
	cursor := opt.Request.GetAfterSequence()
	delay := opt.MinBackoff
	for attempt := 0; ; attempt++ {
		req := proto.CloneOf(opt.Request)
		req.AfterSequence = cursor
		if attempt > 0 {
			req.OnlyNew = false // resuming: the cursor says where
		}
		// The first attempt fails fast, so an unreachable server is reported at once; later
		// ones wait for the connection to be back (gRPC reconnects with its own backoff,
		// set by the caller) instead of failing on the last connection error.
		got, err := subscribeOnce(ctx, client, req, &cursor, opt.OnEvent, grpc.WaitForReady(attempt > 0))
		if ctx.Err() != nil {
			return nil
		}
		var sink sinkError
		if errors.As(err, &sink) {
			return sink.err
		}
		st := status.Convert(err)
		if errors.Is(err, io.EOF) {
			st = status.New(codes.Unavailable, "the server ended the stream")
		}
		if !retryable(st.Code()) {
			return permanentError(st, cursor)
		}
		if got {
			delay = opt.MinBackoff
		}
		wait := delay/2 + rand.N(delay/2+1)
		opt.Logf("%s: %s; resuming after sequence %d (next attempt in %v, then as soon as the server answers)",
			codeName(st.Code()), st.Message(), cursor, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, opt.MaxBackoff)
	}
}

// subscribeOnce runs one Subscribe until it fails, moving *cursor past every event handed
// to onEvent and every progress head. got says whether anything arrived.
func subscribeOnce(ctx context.Context, client livegatev1.EventServiceClient, req *livegatev1.SubscribeRequest, cursor *uint64, onEvent func(*livegatev1.Event) error, opts ...grpc.CallOption) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Subscribe(ctx, req, opts...)
	if err != nil {
		return false, err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		switch k := m.GetKind().(type) {
		case *livegatev1.SubscribeResponse_Event:
			seq := k.Event.GetSequence()
			if seq <= *cursor {
				continue // never twice, whatever the server does
			}
			if err := onEvent(k.Event); err != nil {
				return got, sinkError{err}
			}
			*cursor = seq
		case *livegatev1.SubscribeResponse_Progress:
			*cursor = max(*cursor, k.Progress.GetHeadSequence())
		}
	}
}

// retryable reports whether a Subscribe failure may go away by itself.
func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.Unknown, codes.Internal, codes.DeadlineExceeded,
		codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return true
	}
	return false
}

// permanentError says what went wrong and what to do.
func permanentError(st *status.Status, cursor uint64) error {
	var hint string
	switch st.Code() {
	case codes.Unauthenticated:
		hint = "check --token (or LIVEGATE_TOKEN)"
	case codes.PermissionDenied:
		hint = "the token belongs to another account or app than --account/--app"
	case codes.OutOfRange:
		info := apierror.Info(st)
		switch {
		case info.GetReason() == string(apierror.ReasonCursorAhead):
			hint = fmt.Sprintf("this server has no event %d yet: --after came from another server, or the database was restored from an older backup; start again with --after %s for new events, or --after 0 for all", cursor, cmp.Or(info.GetMetadata()["head_sequence"], "N"))
		default:
			hint = fmt.Sprintf("events after %d are no longer all kept (the oldest is %s); start again with --after 0 to read what is left", cursor, cmp.Or(info.GetMetadata()["oldest_sequence"], "?"))
		}
	case codes.InvalidArgument:
		hint = "check the flags"
	}
	if hint == "" {
		return fmt.Errorf("events tail: %s: %s", codeName(st.Code()), st.Message())
	}
	return fmt.Errorf("events tail: %s: %s (%s)", codeName(st.Code()), st.Message(), hint)
}

// codeName is a gRPC code as the API docs write it: PERMISSION_DENIED.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// bearerValue is the authorization metadata for a token given with or without its scheme.
func bearerValue(token string) string {
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		return token
	}
	return "Bearer " + token
}

// eventPrinter writes one line per event.
type eventPrinter struct {
	w    io.Writer
	json bool
}

var printJSON = protojson.MarshalOptions{UseProtoNames: true}

func (p *eventPrinter) print(ev *livegatev1.Event) error {
	var line []byte
	if p.json {
		b, err := printJSON.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", ev.GetSequence(), err)
		}
		line = append(b, '\n')
	} else {
		line = []byte(formatEvent(ev))
	}
	_, err := p.w.Write(line)
	return err
}

// formatEvent is the human line: `<sequence> <time> <type> <source> livestream=<id> room=<id>`,
// the time being when it happened (the provider's clock, else when livegate received it),
// and "-" for an id the event does not have.
func formatEvent(ev *livegatev1.Event) string {
	at := ev.GetOccurredAt()
	if at == nil || !at.IsValid() || (at.GetSeconds() == 0 && at.GetNanos() == 0) {
		at = ev.GetReceivedAt()
	}
	when := "-"
	if at != nil && at.IsValid() {
		when = at.AsTime().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return fmt.Sprintf("%d %s %s %s livestream=%s room=%s\n",
		ev.GetSequence(), when, orDash(ev.GetType()), orDash(ev.GetSource()), orDash(ev.GetLivestreamId()), orDash(ev.GetRoomId()))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
