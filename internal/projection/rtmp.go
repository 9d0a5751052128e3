package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/livegate/livegate/internal/store"
)

// The rules of RTMP ingest through nginx-rtmp. livegate registers each client it lets
// publish or play (store.RtmpClient, keyed by nginx-rtmp's clientid) and accounts for it when
// its done callback comes:
//
//   - A publisher makes its livestream LIVE. Its session is the active one (an INVOKED
//     session, or the one a stale publisher left), else the latest session if that stopped
//     at most ReconnectWindow ago (a reconnect continues its session), else a new one.
//   - When the publisher is done, its publishing time is added to the session's
//     ingest_seconds, the session stops, and the livestream goes IDLE.
//   - A viewer's watch time, from its play to its done callback but not past the end of the
//     session it watched, is added to that session's viewer_seconds.
//   - One publisher at a time: a second one is refused while the first is registered and
//     nginx-rtmp reported it within StaleAfter (nginx-rtmp reports every client on each
//     on_update). A publisher not reported for longer is gone without its done callback (an
//     nginx crash, say); the next publisher takes over, and the stale one's time counts up
//     to when it was last reported.
//   - Reap accounts for every client not reported for StaleAfter as if it had been done
//     when it was last seen, so that a lost done callback leaves no livestream LIVE.
//   - A client id that comes again for another client (nginx-rtmp numbers its clients from
//     1 again when it restarts) means the client registered under it is gone: it is
//     accounted for as done when it was last seen, before the new one is registered.

// DefaultReconnectWindow is how long after its publisher disconnects a livestream's
// session can still be continued by a new publisher.
const DefaultReconnectWindow = 30 * time.Second

// Ingest tunes the RTMP ingest rules.
type Ingest struct {
	// ReconnectWindow: a publish within this long of the latest session's stop continues
	// that session (zero: DefaultReconnectWindow; negative: never).
	ReconnectWindow time.Duration
	// StaleAfter: a registered client not reported for this long is gone (zero: never).
	StaleAfter time.Duration
}

// ErrPublishing: the livestream already has a live publisher.
var ErrPublishing = errors.New("the livestream already has a publisher")

func (in Ingest) window() time.Duration {
	if in.ReconnectWindow == 0 {
		return DefaultReconnectWindow
	}
	return in.ReconnectWindow
}

// Publish registers nginx-rtmp client clientID as l's publisher, now, and returns the
// status change (to LIVE) it caused, recorded as caused by cause. ErrPublishing when another
// publisher is live.
func (in Ingest) Publish(ctx context.Context, w store.Writer, l *store.Livestream, clientID uint64, cause Cause, now time.Time) (*Change, error) {
	pub, err := w.RtmpPublisher(ctx, l.Tenant, l.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case pub.ClientID == clientID:
		return nil, nil // a repeat: already registered
	case in.StaleAfter <= 0 || now.Sub(pub.SeenAt) < in.StaleAfter:
		return nil, ErrPublishing
	default:
		// Stale: count its time up to when nginx-rtmp last reported it, and take over.
		if err := w.DeleteRtmpClient(ctx, pub.ClientID); err != nil {
			return nil, err
		}
		if err := addIngest(ctx, w, pub, pub.SeenAt, now); err != nil {
			return nil, err
		}
	}
	// Not a repeat: the publisher of l under this id was found above.
	if _, err := in.reused(ctx, w, l, clientID, func(store.RtmpClient) bool { return false }, cause, now); err != nil {
		return nil, err
	}

	sess, err := w.ActiveSession(ctx, l.Tenant, l.ID)
	switch {
	case err == nil:
		if sess.StartedAt.IsZero() {
			sess.StartedAt = now
			sess.UpdatedAt = now
			if err := w.UpdateSession(ctx, sess); err != nil {
				return nil, err
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	default:
		latest, err := w.LatestSession(ctx, l.Tenant, l.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil && latest.ErrMessage == "" && !latest.StoppedAt.IsZero() &&
			in.window() > 0 && now.Sub(latest.StoppedAt) <= in.window() {
			// A reconnect: the session goes on.
			sess = latest
			sess.StoppedAt = time.Time{}
			sess.UpdatedAt = now
			if err := w.UpdateSession(ctx, sess); err != nil {
				return nil, err
			}
		} else {
			sess = store.Session{Tenant: l.Tenant, ID: uuid.NewString(), LivestreamID: l.ID, StartedAt: now, CreatedAt: now, UpdatedAt: now}
			if err := w.CreateSession(ctx, sess); err != nil {
				return nil, err
			}
		}
	}
	c := store.RtmpClient{Tenant: l.Tenant, ClientID: clientID, LivestreamID: l.ID, SessionID: sess.ID, Publishing: true, Since: now, SeenAt: now}
	if err := w.PutRtmpClient(ctx, c); err != nil {
		return nil, err
	}
	return transition(ctx, w, l, store.StatusLive, sess.ID, "", cause, now)
}

// SameRegistration reports whether registered client c is l's publisher (publishing) or one
// of its viewers: a callback admitting it so again is a repeat, which changes nothing.
func SameRegistration(c store.RtmpClient, l *store.Livestream, publishing bool) bool {
	return c.Publishing == publishing && c.Tenant == l.Tenant && c.LivestreamID == l.ID
}

// Play registers nginx-rtmp client clientID as a viewer of l, now. It watches l's active
// session, or, if l has none yet, the next one. A repeat changes nothing. A status change
// it causes (the publisher whose client id it reuses, gone) is recorded as caused by cause.
func (in Ingest) Play(ctx context.Context, w store.Writer, l *store.Livestream, clientID uint64, cause Cause, now time.Time) error {
	repeat, err := in.reused(ctx, w, l, clientID, func(c store.RtmpClient) bool { return SameRegistration(c, l, false) }, cause, now)
	if repeat || err != nil {
		return err
	}
	c := store.RtmpClient{Tenant: l.Tenant, ClientID: clientID, LivestreamID: l.ID, Since: now, SeenAt: now}
	sess, err := w.ActiveSession(ctx, l.Tenant, l.ID)
	switch {
	case err == nil:
		c.SessionID = sess.ID
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return w.PutRtmpClient(ctx, c)
}

// Done accounts for registered client c, which was done at `at` (its done callback, or when
// it was last seen): a publisher's time goes to its session's ingest_seconds and the
// livestream l goes IDLE; a viewer's to viewer_seconds. It returns the status change, if any,
// recorded as caused by cause.
func (in Ingest) Done(ctx context.Context, w store.Writer, c store.RtmpClient, l *store.Livestream, at time.Time, cause Cause, now time.Time) (*Change, error) {
	return in.done(ctx, w, c, l, at, "the publisher disconnected", cause, now)
}

// done is Done, with the reason a publisher's livestream goes IDLE.
func (in Ingest) done(ctx context.Context, w store.Writer, c store.RtmpClient, l *store.Livestream, at time.Time, reason string, cause Cause, now time.Time) (*Change, error) {
	if err := w.DeleteRtmpClient(ctx, c.ClientID); err != nil {
		return nil, err
	}
	if !c.Publishing {
		return nil, addViewer(ctx, w, c, at, now)
	}
	sess, err := w.Session(ctx, c.Tenant, c.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // deleted with its livestream
	}
	if err != nil {
		return nil, err
	}
	sess.IngestSeconds += seconds(c.Since, at)
	if !sess.StoppedAt.IsZero() {
		// Stopped meanwhile (through the API): only the seconds are news.
		sess.UpdatedAt = now
		return nil, w.UpdateSession(ctx, sess)
	}
	sess.StoppedAt = at
	sess.UpdatedAt = now
	if err := w.UpdateSession(ctx, sess); err != nil {
		return nil, err
	}
	return transition(ctx, w, l, store.StatusIdle, sess.ID, reason, cause, now)
}

// reused looks for the client registered under clientID, which is about to be registered for
// l. It returns true when that client is the same registration (same, a repeated callback).
// Otherwise nginx-rtmp has given its id to a new client, so the registered one is gone: it is
// accounted for as done when it was last seen, and a status change that causes is recorded
// as caused by cause.
func (in Ingest) reused(ctx context.Context, w store.Writer, l *store.Livestream, clientID uint64, same func(store.RtmpClient) bool, cause Cause, now time.Time) (bool, error) {
	old, err := w.RtmpClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case same(old):
		return true, nil
	}
	ol := l
	if old.Tenant != l.Tenant || old.LivestreamID != l.ID {
		other, err := w.Livestream(ctx, old.Tenant, old.LivestreamID)
		if err != nil {
			return false, fmt.Errorf("livestream of RTMP client %d: %w", old.ClientID, err)
		}
		ol = &other
	}
	reason := fmt.Sprintf("nginx-rtmp gave the publisher's client id %d to a new client; the publisher was last reported at %s",
		old.ClientID, old.SeenAt.UTC().Format(time.RFC3339))
	_, err = in.done(ctx, w, old, ol, old.SeenAt, reason, cause, now)
	return false, err
}

// Reaped is a client Reap accounted for.
type Reaped struct {
	Client     store.RtmpClient
	Livestream store.Livestream
	// Change is the status change it caused (a publisher's livestream going IDLE), or nil.
	Change *Change
}

// Reap accounts for up to limit clients that nginx-rtmp has not reported for StaleAfter, as
// if their done callback had come when they were last seen: they are gone without one (nginx
// crashed, or livegate was unreachable when it was sent). A publisher's livestream goes IDLE,
// its status change recorded with no cause and a reason saying when the publisher was last
// seen. Nothing when StaleAfter is zero.
func (in Ingest) Reap(ctx context.Context, w store.Writer, now time.Time, limit int) ([]Reaped, error) {
	if in.StaleAfter <= 0 {
		return nil, nil
	}
	stale, err := w.StaleRtmpClients(ctx, now.Add(-in.StaleAfter), limit)
	if err != nil {
		return nil, err
	}
	var out []Reaped
	for _, c := range stale {
		l, err := w.Livestream(ctx, c.Tenant, c.LivestreamID)
		if err != nil {
			return nil, fmt.Errorf("livestream of RTMP client %d: %w", c.ClientID, err)
		}
		reason := fmt.Sprintf("nginx-rtmp has not reported the publisher since %s", c.SeenAt.UTC().Format(time.RFC3339))
		change, err := in.done(ctx, w, c, &l, c.SeenAt, reason, Cause{}, now)
		if err != nil {
			return nil, err
		}
		out = append(out, Reaped{Client: c, Livestream: l, Change: change})
	}
	return out, nil
}

// Seen records that nginx-rtmp reported client c (on_update) now.
func Seen(ctx context.Context, w store.Writer, c store.RtmpClient, now time.Time) error {
	c.SeenAt = now
	return w.PutRtmpClient(ctx, c)
}

// addIngest adds a publisher's time, since..until, to its session's ingest_seconds.
func addIngest(ctx context.Context, w store.Writer, c store.RtmpClient, until, now time.Time) error {
	sess, err := w.Session(ctx, c.Tenant, c.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	sess.IngestSeconds += seconds(c.Since, until)
	sess.UpdatedAt = now
	return w.UpdateSession(ctx, sess)
}

// addViewer adds a viewer's watch time to the session it watched: the one active when it
// started playing, else the first that started after (it waited for the publisher). Time
// before the session started or after it stopped does not count.
func addViewer(ctx context.Context, w store.Writer, c store.RtmpClient, at, now time.Time) error {
	var sess store.Session
	var err error
	if c.SessionID != "" {
		sess, err = w.Session(ctx, c.Tenant, c.SessionID)
	} else {
		sess, err = w.LatestSession(ctx, c.Tenant, c.LivestreamID)
		if err == nil && sess.StartedAt.Before(c.Since) {
			return nil // no session started while it watched
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session watched by RTMP client %d: %w", c.ClientID, err)
	}
	from, until := c.Since, at
	if sess.StartedAt.After(from) {
		from = sess.StartedAt
	}
	if !sess.StoppedAt.IsZero() && sess.StoppedAt.Before(until) {
		until = sess.StoppedAt
	}
	if s := seconds(from, until); s > 0 {
		sess.ViewerSeconds += s
		sess.UpdatedAt = now
		return w.UpdateSession(ctx, sess)
	}
	return nil
}

// seconds from..until, never negative.
func seconds(from, until time.Time) float64 {
	return max(until.Sub(from).Seconds(), 0)
}
