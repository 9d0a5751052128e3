// Package projection turns provider events into livestream state: status, sessions, ingest
// seconds, recordings and meeting sessions. It runs inside the transaction that stores the
// event, so an event and everything it causes are committed together.
//
// Events may arrive out of order or twice (provider retries, replays). Every rule is
// idempotent and never moves state backwards: a start not newer than the newest stopped
// session's stop is stale and ignored (Start); a stop or failure dated before the active
// session began is about an earlier run and ignored (before); a stop or failure with no
// active session is either a repeat of one the latest session has (ignored) or came before
// its run's start (the run is stored as a stopped session, so that its start is stale when it
// comes: unseen); seconds are counted once, when a session stops.
package projection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
)

type effect int

const (
	noEffect effect = iota
	goLive
	goIdle
	goErrored
	recorded
	meetingOpened
	meetingClosed
)

// hmsEffects: what each 100ms event type does.
var hmsEffects = map[string]effect{
	"hls.started.success":      goLive,
	"beam.started.success":     goLive,
	"ingest.start.success":     goLive,
	"hls.stopped.success":      goIdle,
	"beam.stopped.success":     goIdle,
	"ingest.end.success":       goIdle,
	"hls.failure":              goErrored,
	"beam.failure":             goErrored,
	"ingest.failure":           goErrored,
	"ingest.start.failure":     goErrored,
	"recording.success":        recorded,
	"beam.recording.success":   recorded,
	"hls.recording.success":    recorded,
	"stream.recording.success": recorded,
	"track.recording.success":  recorded,
	"session.open.success":     meetingOpened,
	"session.close.success":    meetingClosed,
}

// amityEffects: what each Amity video-streaming event does.
var amityEffects = map[string]effect{
	"video-streaming.didStart":     goLive,
	"video-streaming.didStop":      goIdle,
	"video-streaming.didTerminate": goIdle,
	"video-streaming.didRecord":    recorded,
}

// Change is a livestream status transition an event caused.
type Change struct {
	LivestreamID string
	Old, New     store.Status
	SessionID    string
	Reason       string
}

// Event is a provider event to project.
type Event struct {
	Tenant  store.Tenant
	Source  string
	Type    string
	At      time.Time // when it happened, by the provider's clock
	Payload proto.Message
}

// Target finds (or, for Amity, creates) the livestream an event concerns: for 100ms the
// livestream whose meeting_id is the event's room_id; for Amity the one driven by its
// streamId. It returns nil when there is none.
func Target(ctx context.Context, w store.Writer, ev Event, now time.Time) (*store.Livestream, error) {
	var (
		l   store.Livestream
		err error
	)
	switch ev.Source {
	case payload.SourceHMS:
		room := keysOf(ev.Payload).room
		if room == "" {
			return nil, nil
		}
		l, err = w.LivestreamByMeeting(ctx, ev.Tenant, room)
	case payload.SourceAmity:
		vs := amityStream(ev.Payload)
		if strings.TrimSpace(vs.GetStreamId()) == "" {
			return nil, nil // names no stream (a blank id made a livestream of "   ")
		}
		l, err = w.LivestreamByProviderID(ctx, ev.Tenant, payload.SourceAmity, vs.GetStreamId())
		if errors.Is(err, store.ErrNotFound) {
			// The first event of an Amity stream creates its livestream.
			l = store.Livestream{
				Tenant:     ev.Tenant,
				ID:         uuid.NewString(),
				Name:       nameFrom(vs.GetTitle()),
				StreamKey:  "amity-" + uuid.NewString(), // Amity holds the real key; this one is never handed out for ingest
				Status:     store.StatusIdle,
				Provider:   payload.SourceAmity,
				ProviderID: vs.GetStreamId(),
				CreatedAt:  now,
				UpdatedAt:  now,
			}
			if err := w.CreateLivestream(ctx, l); err != nil {
				return nil, fmt.Errorf("create livestream for Amity stream %s: %w", vs.GetStreamId(), err)
			}
			return &l, nil
		}
	default:
		return nil, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// Apply projects ev onto l (nil: an event about no known livestream, which can still feed
// meeting-session statistics) and returns the status change it caused, if any, recorded in
// the feed as caused by cause (the stored event, see CausedBy).
func Apply(ctx context.Context, w store.Writer, ev Event, l *store.Livestream, cause Cause, now time.Time) (*Change, error) {
	ev.At = notAfter(ev.At, now)
	var eff effect
	switch ev.Source {
	case payload.SourceHMS:
		eff = hmsEffects[ev.Type]
	case payload.SourceAmity:
		eff = amityEffects[ev.Type]
	}
	switch eff {
	case meetingOpened, meetingClosed:
		return nil, meetingSession(ctx, w, ev, eff, now)
	case recorded:
		return nil, recording(ctx, w, ev, l)
	}
	if l == nil || eff == noEffect {
		return nil, nil
	}
	switch eff {
	case goLive:
		return startPlaying(ctx, w, ev, l, cause, now)
	case goIdle:
		at, seconds := stopTime(ev)
		at = notAfter(at, now)
		// When the run started is read with its duration as said (one too long for that
		// gives way to started_at); then the run ingested at most from its start (when
		// said) to its stop, and at most maxProviderSeconds.
		started := runStart(ev, at, seconds)
		seconds = atMost(seconds, maxProviderSeconds)
		if !started.IsZero() {
			seconds = atMost(seconds, span(started, at))
		}
		reason := ""
		if ev.Type == "video-streaming.didTerminate" {
			reason = "terminated by Amity"
		} else if r := hmsStopped(ev.Payload).reason; r != "" {
			reason = r
		}
		return stop(ctx, w, l, run{started: started, stopped: at, seconds: seconds}, true, reason, cause, now)
	case goErrored:
		// The message goes in a text column: PostgreSQL's refuses NUL (a 500 there).
		return Fail(ctx, w, l, ev.At, store.WebhookText(hmsFailure(ev.Payload), 0), cause, now)
	}
	return nil, nil
}

// Errors of Invoke: what keeps a livestream from being invoked.
var (
	// ErrActive: the livestream is INVOKED or LIVE already.
	ErrActive = errors.New("the livestream is already active")
	// ErrDisabled: the livestream is disabled.
	ErrDisabled = errors.New("the livestream is disabled")
)

// Invoke starts a run of l through the API (StartMeetingLivestream): a new session, invoked
// now, and l INVOKED. l may be new, not stored yet (its Status empty): it is then created,
// and its status change is from none. ErrActive when l is INVOKED or LIVE; ErrDisabled when
// it is disabled.
func Invoke(ctx context.Context, w store.Writer, l *store.Livestream, cause Cause, now time.Time) (*Change, error) {
	switch {
	case l.Status.Active():
		return nil, ErrActive
	case l.Disabled:
		return nil, ErrDisabled
	}
	c := &Change{LivestreamID: l.ID, Old: l.Status, New: store.StatusInvoked}
	created := l.Status == ""
	l.Status = store.StatusInvoked
	l.UpdatedAt = now
	if created {
		if err := w.CreateLivestream(ctx, *l); err != nil {
			return nil, err
		}
	} else if err := w.UpdateLivestream(ctx, *l); err != nil {
		return nil, err
	}
	sess := store.Session{Tenant: l.Tenant, ID: uuid.NewString(), LivestreamID: l.ID, InvokedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := w.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	c.SessionID = sess.ID
	if err := record(ctx, w, *l, *c, cause, now); err != nil {
		return nil, err
	}
	return c, nil
}

// startPlaying applies a provider's start (goLive) and where it says the run plays
// (providerPlayback): a run that goes LIVE plays where its start says, nowhere if it names no
// place (the last run's place plays nothing now); a start of the run already live that names
// a place gives it (100ms: beam.started.success, then hls.started.success with its url); a
// stale start changes nothing.
func startPlaying(ctx context.Context, w store.Writer, ev Event, l *store.Livestream, cause Cause, now time.Time) (*Change, error) {
	u, prev := providerPlayback(ev.Payload), l.PlaybackURL
	l.PlaybackURL = u // stored with the status change, if the start makes one
	c, stale, err := start(ctx, w, l, notAfter(startTime(ev), now), cause, now)
	switch {
	case err != nil || c != nil:
		return c, err
	case !stale && u != "" && u != prev:
		l.UpdatedAt = now
		return nil, w.UpdateLivestream(ctx, *l)
	}
	l.PlaybackURL = prev
	return nil, nil
}

// Start makes l LIVE at `at`: the active session (an invoked one) gets its start time, or a
// new session begins. A start that is not newer than the newest stopped session's stop is
// stale (its run is over): also when a newer run was invoked since, through the API.
func Start(ctx context.Context, w store.Writer, l *store.Livestream, at time.Time, cause Cause, now time.Time) (*Change, error) {
	c, _, err := start(ctx, w, l, at, cause, now)
	return c, err
}

// start is Start, also saying whether the start was stale.
func start(ctx context.Context, w store.Writer, l *store.Livestream, at time.Time, cause Cause, now time.Time) (_ *Change, stale bool, _ error) {
	newest, _, err := w.ListSessions(ctx, l.Tenant, l.ID, 0, 2)
	if err != nil {
		return nil, false, err
	}
	var latest, stopped store.Session
	hasLatest := len(newest) > 0
	if hasLatest {
		latest = newest[0]
	}
	for _, s := range newest {
		if !s.StoppedAt.IsZero() {
			stopped = s
			break
		}
	}
	if !stopped.StoppedAt.IsZero() && !at.After(stopped.StoppedAt) {
		// Stale: this run already stopped. If its stop came first and did not say when
		// the run started, this start does.
		if stopped.StartedAt.IsZero() {
			stopped.StartedAt = at
			if stopped.IngestSeconds == 0 {
				stopped.IngestSeconds = span(stopped.StartedAt, stopped.StoppedAt)
			}
			stopped.UpdatedAt = now
			if err := w.UpdateSession(ctx, stopped); err != nil {
				return nil, true, err
			}
		}
		return nil, true, nil
	}
	if l.Status == store.StatusLive && hasLatest && latest.StoppedAt.IsZero() {
		return nil, false, nil // already live
	}
	sess := latest
	if hasLatest && latest.StoppedAt.IsZero() {
		if sess.StartedAt.IsZero() {
			sess.StartedAt = at
		}
		sess.UpdatedAt = now
		if err := w.UpdateSession(ctx, sess); err != nil {
			return nil, false, err
		}
	} else {
		sess = store.Session{Tenant: l.Tenant, ID: uuid.NewString(), LivestreamID: l.ID, StartedAt: at, CreatedAt: now, UpdatedAt: now}
		if err := w.CreateSession(ctx, sess); err != nil {
			return nil, false, err
		}
	}
	c, err := transition(ctx, w, l, store.StatusLive, sess.ID, "", cause, now)
	return c, false, err
}

// Stop makes l IDLE: its active session stops at `at` with ingestSeconds (negative: count
// from the session's start). A repeated stop finds no active session and l already IDLE, and
// changes nothing. It is the API's stop; a provider's stop also knows its run (see stop).
func Stop(ctx context.Context, w store.Writer, l *store.Livestream, at time.Time, ingestSeconds float64, reason string, cause Cause, now time.Time) (*Change, error) {
	return stop(ctx, w, l, run{stopped: at, seconds: ingestSeconds}, false, reason, cause, now)
}

// run is what a stop or failure says of the run it ends.
type run struct {
	started time.Time // zero: not said
	stopped time.Time // zero: now
	seconds float64   // ingest seconds; negative: not said
	err     string    // a failure's message; empty: a stop
}

// stop is Stop of run r. A provider's stop (provider) that finds no active session with l
// not active is of a run not seen to start (see unseen), which l ends IDLE.
func stop(ctx context.Context, w store.Writer, l *store.Livestream, r run, provider bool, reason string, cause Cause, now time.Time) (*Change, error) {
	sess, err := w.ActiveSession(ctx, l.Tenant, l.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) && l.Status.Active():
		return transition(ctx, w, l, store.StatusIdle, "", reason, cause, now)
	case errors.Is(err, store.ErrNotFound) && !provider:
		return nil, nil
	case errors.Is(err, store.ErrNotFound):
		s, err := unseen(ctx, w, l, r, now)
		if s == nil || err != nil {
			return nil, err
		}
		return transition(ctx, w, l, store.StatusIdle, s.ID, reason, cause, now)
	case err != nil:
		return nil, err
	case provider && before(r, sess):
		return nil, nil // about an earlier run: this one goes on
	}
	stopSession(&sess, r.stopped, r.seconds, now)
	if err := w.UpdateSession(ctx, sess); err != nil {
		return nil, err
	}
	return transition(ctx, w, l, store.StatusIdle, sess.ID, reason, cause, now)
}

// notAfter is a provider's time t, or now if t is more than invokeSkew after it: nothing has
// started or stopped in the future, and a wrong clock or a forged time (a start dated 2100)
// would otherwise make every later start look stale until then.
func notAfter(t, now time.Time) time.Time {
	if t.After(now.Add(invokeSkew)) {
		return now
	}
	return t
}

// span is the seconds of a run from its start to its stop as a provider dates them: at most
// maxProviderSeconds, never negative.
func span(started, stopped time.Time) float64 {
	return min(max(stopped.Sub(started).Seconds(), 0), maxProviderSeconds)
}

// atMost is a provider's duration in seconds (negative: not said) bounded by span, the
// seconds between the run's start and stop as livegate holds them: a run cannot ingest
// longer than it ran (100ms's duration 9223372036854775807 on a run of 14 ms).
func atMost(seconds, span float64) float64 {
	if seconds < 0 {
		return seconds
	}
	return min(seconds, max(span, 0))
}

// invokeSkew is how far a provider's clock may differ from livegate's: a stop or failure
// dated more than this before a session was invoked is about an earlier run, and a time more
// than this after now is now (notAfter).
const invokeSkew = time.Minute

// before reports whether a provider's stop or failure of run r is about a run earlier than
// the active session sess: it stopped before sess started (both by the provider's clock), or,
// sess not started yet, well before sess was invoked (by livegate's).
func before(r run, sess store.Session) bool {
	switch {
	case r.stopped.IsZero():
		return false
	case !sess.StartedAt.IsZero():
		return r.stopped.Before(sess.StartedAt)
	case !sess.InvokedAt.IsZero():
		return r.stopped.Before(sess.InvokedAt.Add(-invokeSkew))
	}
	return false
}

// unseen stores run r, ended by a provider's stop or failure that found no active session,
// as a stopped session, and returns it. Providers do not promise order: the stop may have
// come before its run's start, which is then stale when it comes (Start). It stores nothing
// and returns nil when the latest session has the run already: a repeat, or a run older than
// that session's. With the run's start not said, that is when r stopped no later than the
// latest session; with it said, when r started no later than the latest session stopped.
func unseen(ctx context.Context, w store.Writer, l *store.Livestream, r run, now time.Time) (*store.Session, error) {
	if r.stopped.IsZero() {
		r.stopped = now
	}
	if r.started.After(r.stopped) {
		r.started = r.stopped
	}
	latest, err := w.LatestSession(ctx, l.Tenant, l.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		mark := r.stopped
		if !r.started.IsZero() {
			mark = r.started
		}
		if !mark.After(latest.StoppedAt) {
			return nil, nil
		}
	}
	sess := store.Session{Tenant: l.Tenant, ID: uuid.NewString(), LivestreamID: l.ID, StartedAt: r.started, StoppedAt: r.stopped,
		ErrMessage: r.err, CreatedAt: now, UpdatedAt: now}
	switch {
	case r.seconds >= 0 && !r.started.IsZero():
		sess.IngestSeconds = atMost(r.seconds, span(r.started, r.stopped))
	case r.seconds >= 0:
		sess.IngestSeconds = r.seconds
	case !r.started.IsZero():
		sess.IngestSeconds = span(r.started, r.stopped)
	}
	if err := w.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	return &sess, nil
}

// Fail makes l ERRORED with msg: its active session stops with err_message set. With no
// active session, l ERRORED already is a repeat and changes nothing; otherwise the failed
// run is one not seen to start (see unseen), which l ends ERRORED.
func Fail(ctx context.Context, w store.Writer, l *store.Livestream, at time.Time, msg string, cause Cause, now time.Time) (*Change, error) {
	if msg == "" {
		msg = "the provider reported a failure"
	}
	sess, err := w.ActiveSession(ctx, l.Tenant, l.ID)
	if errors.Is(err, store.ErrNotFound) {
		if l.Status == store.StatusErrored {
			return nil, nil
		}
		s, err := unseen(ctx, w, l, run{stopped: at, seconds: -1, err: msg}, now)
		if s == nil || err != nil {
			return nil, err
		}
		return transition(ctx, w, l, store.StatusErrored, s.ID, msg, cause, now)
	}
	if err != nil {
		return nil, err
	}
	if before(run{stopped: at}, sess) {
		return nil, nil // about an earlier run: this one goes on
	}
	stopSession(&sess, at, -1, now)
	sess.ErrMessage = msg
	if err := w.UpdateSession(ctx, sess); err != nil {
		return nil, err
	}
	return transition(ctx, w, l, store.StatusErrored, sess.ID, msg, cause, now)
}

func stopSession(sess *store.Session, at time.Time, ingestSeconds float64, now time.Time) {
	if at.IsZero() || (!sess.StartedAt.IsZero() && at.Before(sess.StartedAt)) {
		at = now
	}
	if !sess.StartedAt.IsZero() && at.Before(sess.StartedAt) {
		// A start ahead of the server's clock too (a wrong clock, or a forged time): the run
		// stops as it starts, never before, and never with negative seconds.
		at = sess.StartedAt
	}
	sess.StoppedAt = at
	switch {
	case ingestSeconds >= 0 && !sess.StartedAt.IsZero():
		sess.IngestSeconds = atMost(ingestSeconds, span(sess.StartedAt, at))
	case ingestSeconds >= 0:
		sess.IngestSeconds = ingestSeconds
	case !sess.StartedAt.IsZero():
		sess.IngestSeconds = span(sess.StartedAt, at)
	}
	sess.UpdatedAt = now
}

// startTime: the provider's start time if the payload has one, else the event's time.
func startTime(ev Event) time.Time {
	if vs := amityStream(ev.Payload); vs != nil && vs.GetStartedAt() != nil {
		return vs.GetStartedAt().AsTime()
	}
	if t, ok := hmsStartedAt(ev.Payload); ok {
		return t
	}
	return ev.At
}

// runStart: when a stop event's run started, if it says: for Amity its startedAt; for 100ms
// its stop time (at) less its duration (seconds; negative: not said), else its started_at.
// Zero when it does not say. (100ms's own sample of hls.stopped.success has started_at equal
// to stopped_at, with a duration of 56 s: its duration is the better witness.)
func runStart(ev Event, at time.Time, seconds float64) time.Time {
	if vs := amityStream(ev.Payload); vs != nil {
		if vs.GetStartedAt() != nil {
			return vs.GetStartedAt().AsTime()
		}
		return time.Time{}
	}
	if seconds >= 0 && seconds <= maxRunSeconds {
		return at.Add(-time.Duration(seconds * float64(time.Second)))
	}
	if t, ok := when(hmsStopped(ev.Payload).startedAt); ok {
		return t
	}
	return time.Time{}
}

// maxRunSeconds bounds a duration runStart subtracts: about 290 years, within time.Duration.
const maxRunSeconds = float64(math.MaxInt64/int64(time.Second)) - 1

// stopTime: when the run stopped and its ingest seconds (-1 if the payload does not say).
func stopTime(ev Event) (time.Time, float64) {
	if vs := amityStream(ev.Payload); vs != nil {
		at := ev.At
		if vs.GetEndedAt() != nil {
			at = vs.GetEndedAt().AsTime()
		}
		if vs.GetStartedAt() != nil && vs.GetEndedAt() != nil {
			return at, max(vs.GetEndedAt().AsTime().Sub(vs.GetStartedAt().AsTime()).Seconds(), 0)
		}
		return at, -1
	}
	s := hmsStopped(ev.Payload)
	at := ev.At
	if t, ok := when(s.at); ok {
		at = t
	}
	if s.duration != nil && *s.duration >= 0 {
		return at, float64(*s.duration)
	}
	return at, -1
}

func recording(ctx context.Context, w store.Writer, ev Event, l *store.Livestream) error {
	r := store.Recording{Tenant: ev.Tenant, ID: uuid.NewString(), Source: ev.Source, RecordedAt: ev.At}
	if l != nil {
		r.LivestreamID = l.ID
	}
	if vs := amityStream(ev.Payload); vs != nil {
		// One recording per entry; its length is the longest of its formats.
		for i, rec := range vs.GetRecordings() {
			r.ID = uuid.NewString()
			r.Key = recordingKey(ev, i)
			r.DurationSeconds = max(rec.GetMp4().GetDuration(), rec.GetFlv().GetDuration(), rec.GetM3U8().GetDuration(), 0)
			r.DurationSeconds = recordedAtMost(r)
			if err := w.CreateRecording(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}
	if d := hmsRecordedSeconds(ev.Payload); d > 0 {
		r.DurationSeconds = float64(d)
	}
	r.DurationSeconds = recordedAtMost(r)
	r.Key = recordingKey(ev, 0)
	return w.CreateRecording(ctx, r)
}

// recordingKey says which recording entry i of ev is, as its provider described it: a
// digest of the event's source, type and payload (deterministically encoded). The same
// recording delivered again under another id (a 100ms replay, an Amity body spaced
// differently) has the same key, and is counted once (the provider audit counted it
// twice); meeting sessions and livestream runs were idempotent already.
func recordingKey(ev Event, i int) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev.Payload)
	if err != nil {
		return "" // not keyed: stored as before
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", ev.Source, ev.Type, i)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// maxProviderSeconds bounds what a provider says a run, a meeting session or a recording
// lasted (by a duration, or by its start and stop): 30 days (a 100ms Beam stops at 4 hours
// unless told otherwise). A duration of 9223372036854775807 s made the overall analytics
// 9.2e18 s, and a start dated 1990 a session of 36 years. A run of a provider's that really
// lasts longer counts 30 days.
const maxProviderSeconds = 30 * 24 * 3600

// recordedAtMost is r's duration, at most maxProviderSeconds.
func recordedAtMost(r store.Recording) float64 { return atMost(r.DurationSeconds, maxProviderSeconds) }

// meetingSession records a 100ms meeting session: its times not after now (notAfter), and
// its duration at most the time between them (span: never negative, at most
// maxProviderSeconds).
func meetingSession(ctx context.Context, w store.Writer, ev Event, eff effect, now time.Time) error {
	m := hmsMeeting(ev.Payload)
	if m.id == "" {
		return nil
	}
	ms := store.MeetingSession{Tenant: ev.Tenant, ID: m.id, RoomID: m.room}
	startSaid := false
	if t, ok := when(m.startedAt); ok {
		ms.StartedAt, startSaid = notAfter(t, now), true
	} else {
		ms.StartedAt = ev.At
	}
	if eff == meetingClosed {
		if t, ok := when(m.stopped); ok {
			ms.StoppedAt = notAfter(t, now)
		} else {
			ms.StoppedAt = ev.At
		}
		ran := span(ms.StartedAt, ms.StoppedAt)
		if !startSaid {
			ran = maxProviderSeconds // its start is not known here: the duration says it
		}
		if m.duration != nil && *m.duration >= 0 {
			ms.DurationSeconds = atMost(float64(*m.duration), ran)
		} else {
			ms.DurationSeconds = ran
		}
	}
	return w.RecordMeetingSession(ctx, ms)
}

func amityStream(p proto.Message) *amityv1.VideoStreaming {
	if e, ok := p.(*amityv1.VideoStreamingEvent); ok {
		return e.GetVideoStreaming()
	}
	return nil
}

var notNameChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// nameFrom makes a livestream name (letters, digits, '-', '_', at most 128) from a title.
func nameFrom(title string) string {
	n := notNameChars.ReplaceAllString(title, "-")
	if len(n) > 128 {
		n = n[:128]
	}
	return n
}
