// Package store defines livegate's system of record: tenants (apps), livestreams, their
// sessions and recordings. The interface is what services depend on; internal/store/sqlite
// is the embedded implementation, and a PostgreSQL one follows the same contract.
//
// Reads and writes happen inside transactions handed to a callback (View, Update), so the
// business rules that span several rows (start a meeting's livestream, stop it) run atomically
// on every backend without each backend re-implementing them.
//
// # Concurrency contract
//
// Every backend (internal/store/sqlite, internal/store/postgres) guarantees the following,
// also when several processes open the same database (several livegate nodes on one
// PostgreSQL; `livegate serve` and `livegate apps create` on one SQLite file). storetest.Run
// and storetest.RunShared check it.
//
//   - Updates are serializable: the write transactions of all processes take turns (SQLite:
//     the database's write lock, BEGIN IMMEDIATE; PostgreSQL: the feed's counter row, locked
//     at the start of each transaction until it ends). An Update's fn sees every Update that
//     committed before it, and nothing of one that has not; so "read, then write if absent"
//     inside one fn (dedupe a delivery, create the livestream of an Amity stream, register
//     a publisher, start a meeting's livestream) holds against every other process. Unique
//     keys back most rules up (an event's dedupe key, a provider stream's livestream, a
//     meeting's livestream, a stream key, a setting): a write that would break one fails
//     with ErrAlreadyExists. (Two publishing clients of one livestream can be stored; the
//     newest is the publisher.)
//   - Several concurrent Updates of one process may share one transaction (group commit).
//     Each fn still fails alone: its writes are undone, the others' kept. A write that fails
//     inside fn (ErrAlreadyExists, ErrNotFound) undoes only itself: fn may go on.
//   - Update returns nil only after its transaction committed durably. An error means it did
//     not commit, or that its outcome is unknown (a connection lost during COMMIT): callers
//     answer 5xx, never success, and a retry must be safe (dedupe).
//   - View runs in one read-only snapshot: all its reads, FeedBounds included, see the same
//     committed state, and nothing committed after the View began.
//   - Event sequences are assigned in commit order: once an event with sequence n is visible,
//     every event with a smaller sequence that will ever exist is visible too. So a reader
//     that follows the feed by "sequence > cursor" never skips one. A committed sequence
//     is never given to another event, not even after retention deleted it. An Update that
//     rolls back takes its sequences back with it, so it leaves no hole (readers still
//     must not count on consecutive sequences: filters and retention make gaps).
//   - OnCommit reports the commits of this Store value (this process), in commit order.
//   - A store written by several processes is a LogFollower: following the log delivers
//     every process's commits, in sequence order (see LogFollower).
//   - A store several processes share (PostgreSQL) is a Leaser: a named lease is held by
//     at most one process at a time, and is freed when its holder ends, so background jobs
//     that must run once (retention, the RTMP reaper) run on one node (see RunExclusive).
//     A store that is not a Leaser (SQLite: one livegate serve per file) runs them anyway.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped with context), so callers can tell them apart
// with errors.Is.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a row with the same unique key exists. Stores return it as an
	// *AlreadyExistsError.
	ErrAlreadyExists = errors.New("already exists")
)

// AlreadyExistsError is a write that a unique key refused. It is ErrAlreadyExists
// (errors.Is). Op is the write and the resource it names ("create app acme/web"); Err is the
// driver's error, which names the column or constraint: it is for logs, and the API answers
// ALREADY_EXISTS with Op alone (apierror.ToStatus), never the driver's text.
type AlreadyExistsError struct {
	Op  string
	Err error
}

func (e *AlreadyExistsError) Error() string {
	return e.Op + ": " + ErrAlreadyExists.Error() + ": " + e.Err.Error()
}

func (e *AlreadyExistsError) Unwrap() []error { return []error{ErrAlreadyExists, e.Err} }

// Tenant is the pair of ids in every REST path: an app within an account.
type Tenant struct {
	AccountID string
	AppID     string
}

// TenantOf is the tenant a request addresses (every livegate request has account_id and app_id).
func TenantOf(r interface {
	GetAccountId() string
	GetAppId() string
}) Tenant {
	return Tenant{AccountID: r.GetAccountId(), AppID: r.GetAppId()}
}

// App is a tenant and its credentials. Secrets are never stored in clear text except the
// webhook secret, which livegate must know to verify HMAC signatures.
type App struct {
	Tenant
	// TokenID is the public half of the API token, the lookup key.
	TokenID string
	// TokenHash is SHA-256 of the token's secret half.
	TokenHash []byte
	// WebhookSecret authenticates provider deliveries (100ms header, Amity HMAC key).
	WebhookSecret string
	CreatedAt     time.Time

	// The credentials a rotation replaced, still accepted until their expiry (zero: none).
	// AppByTokenID finds the app by PrevTokenID too, whether or not it expired: the caller
	// checks the expiry.
	PrevTokenID                string
	PrevTokenHash              []byte
	PrevTokenExpiresAt         time.Time
	PrevWebhookSecret          string
	PrevWebhookSecretExpiresAt time.Time
}

// AuditEntry is one entry of the admin audit log: an operator's action on an app.
type AuditEntry struct {
	// Seq is assigned by AppendAuditEntry: increasing, never reused.
	Seq uint64
	At  time.Time
	// Actor identifies who acted: the operator token's fingerprint, or "cli" (and the OS
	// user) for the command line.
	Actor string
	// Action is what was done: "apps.create", "apps.rotate_token",
	// "apps.rotate_webhook_secret", "apps.delete".
	Action string
	Tenant
	// Detail is a short human-readable note (never a secret), such as when the previous
	// credential expires.
	Detail string
}

// Status of a livestream, stored as RealtimeKit spells it.
type Status string

// The livestream statuses.
const (
	StatusLive    Status = "LIVE"
	StatusIdle    Status = "IDLE"
	StatusErrored Status = "ERRORED"
	StatusInvoked Status = "INVOKED"
)

// Active reports whether a livestream in this status counts as the active one of its meeting.
func (s Status) Active() bool { return s == StatusLive || s == StatusInvoked }

// Livestream is a stored livestream.
type Livestream struct {
	Tenant
	ID        string
	Name      string
	MeetingID string // empty for an independent livestream
	StreamKey string
	Status    Status
	Disabled  bool
	// Provider drives the state: "rtmp", "hms" or "amity".
	Provider string
	// ProviderID is the livestream's id at its provider (Amity streamId), or empty.
	ProviderID string
	// PlaybackURL is where a provider plays a livestream it ingests (100ms's HLS URL, Amity's
	// HLS watcher URL), as its latest run's starts said; empty when they named none, and for
	// livestreams ingested over RTMP, whose playback URL is livegate's.
	PlaybackURL string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Session is one run of a livestream.
type Session struct {
	Tenant
	ID            string
	LivestreamID  string
	InvokedAt     time.Time // zero when unset
	StartedAt     time.Time // zero when unset
	StoppedAt     time.Time // zero while active
	IngestSeconds float64
	ViewerSeconds float64
	ErrMessage    string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Recording is one finished recording, for the daywise recording statistics.
type Recording struct {
	Tenant
	ID              string
	LivestreamID    string // empty when unknown
	Source          string // "hms", "amity", "rtmp"
	RecordedAt      time.Time
	DurationSeconds float64
	// Key says which recording it is, as its provider described it: CreateRecording stores
	// a second recording of the tenant with the same key as no recording at all. Empty:
	// none (every one is stored).
	Key string
}

// MeetingSession is one session of a meeting (a 100ms room session), for the daywise
// session statistics.
type MeetingSession struct {
	Tenant
	ID              string // the provider's session id
	RoomID          string
	StartedAt       time.Time
	StoppedAt       time.Time // zero while open
	DurationSeconds float64
}

// RtmpClient is an nginx-rtmp connection livegate let publish to or play a livestream, from
// its on_publish or on_play callback until its done callback.
type RtmpClient struct {
	Tenant
	// ClientID is nginx-rtmp's connection number (the callbacks' clientid); the key.
	ClientID     uint64
	LivestreamID string
	// SessionID is the session the client publishes or watches; empty for a viewer that
	// started playing before the livestream had a session.
	SessionID string
	// Publishing is true for the publisher, false for a viewer.
	Publishing bool
	// Since is when the client started publishing or playing.
	Since time.Time
	// SeenAt is when nginx-rtmp last reported the client (its on_publish/on_play, then each
	// on_update).
	SeenAt time.Time
}

// Event is an entry of the event feed as stored: the columns livegate filters on, and the
// event itself (a protobuf-encoded livegate.v1.Event) in Body.
type Event struct {
	// Sequence is assigned by AppendEvent: strictly increasing in commit order, never reused.
	Sequence uint64
	Tenant
	Source string
	Type   string
	// DeliveryID identifies the provider delivery the event came from; a redelivery has the
	// same one, and DeliveryEvents finds what it stored.
	DeliveryID string
	// DedupeKey is unique per (tenant, source): AppendEvent refuses a second event with it.
	DedupeKey    string
	LivestreamID string
	RoomID       string
	ReceivedAt   time.Time
	Body         []byte
}

// EventFilter selects events. Every set criterion must match; within Types and Sources any
// value may. A type ending in '.' matches as a prefix.
type EventFilter struct {
	Types        []string
	Sources      []string
	LivestreamID string
	RoomID       string
}

// SortOrder orders lists by creation time.
type SortOrder int

// Sort orders.
const (
	Descending SortOrder = iota // newest first (the default)
	Ascending
)

// LivestreamFilter selects livestreams for ListLivestreams.
type LivestreamFilter struct {
	ExcludeMeetings bool
	Status          Status    // empty: any
	CreatedFrom     time.Time // zero: unbounded; inclusive
	CreatedTo       time.Time // zero: unbounded; exclusive (see Until)
	Order           SortOrder
	Offset, Limit   int
}

// Totals are sums over sessions.
type Totals struct {
	Livestreams   int
	IngestSeconds float64
	ViewerSeconds float64
}

// DayStat is one UTC day's count and minutes.
type DayStat struct {
	Day     string // YYYY-MM-DD
	Count   int
	Minutes float64
}

// LivestreamDay is one UTC day's livestream sessions and their sums.
type LivestreamDay struct {
	Day           string // YYYY-MM-DD
	Sessions      int
	IngestSeconds float64
	ViewerSeconds float64
}

// Reader reads inside a transaction.
type Reader interface {
	// AppByTokenID returns the app whose API token has this id.
	AppByTokenID(ctx context.Context, tokenID string) (App, error)
	// App returns a tenant's app.
	App(ctx context.Context, t Tenant) (App, error)
	// AppsVersion returns a number that every committed change to apps (created, credentials
	// updated, deleted: by any process) makes different. A reader that cached apps under a
	// version knows them unchanged while it is the same. Read it before the apps it covers
	// (on a store without one snapshot per transaction, it may then only be older than they).
	AppsVersion(ctx context.Context) (uint64, error)
	// ListApps returns every app, ordered by account id then app id.
	ListApps(ctx context.Context) ([]App, error)
	// AuditEntries returns up to limit admin audit entries with a sequence greater than
	// after, in sequence order.
	AuditEntries(ctx context.Context, after uint64, limit int) ([]AuditEntry, error)

	// Livestream returns one of the tenant's livestreams.
	Livestream(ctx context.Context, t Tenant, id string) (Livestream, error)
	// LivestreamByMeeting returns the livestream of a meeting.
	LivestreamByMeeting(ctx context.Context, t Tenant, meetingID string) (Livestream, error)
	// LivestreamByStreamKey returns the livestream with this stream key, of any tenant.
	LivestreamByStreamKey(ctx context.Context, streamKey string) (Livestream, error)
	// LivestreamByID returns the livestream with this id, of any tenant (ids are unique
	// across tenants).
	LivestreamByID(ctx context.Context, id string) (Livestream, error)
	// LivestreamByProviderID returns the tenant's livestream driven by provider with this id.
	LivestreamByProviderID(ctx context.Context, t Tenant, provider, providerID string) (Livestream, error)
	// ListLivestreams returns a page of the tenant's livestreams and how many match in all.
	ListLivestreams(ctx context.Context, t Tenant, f LivestreamFilter) ([]Livestream, int, error)

	// Session returns one of the tenant's sessions.
	Session(ctx context.Context, t Tenant, id string) (Session, error)
	// ActiveSession returns the livestream's session that has not stopped (the latest one).
	ActiveSession(ctx context.Context, t Tenant, livestreamID string) (Session, error)
	// LatestSession returns the livestream's most recently created session.
	LatestSession(ctx context.Context, t Tenant, livestreamID string) (Session, error)
	// ListSessions returns a page of the livestream's sessions, newest first, and the total.
	ListSessions(ctx context.Context, t Tenant, livestreamID string, offset, limit int) ([]Session, int, error)

	// SessionTotals sums the tenant's sessions created in [from, to).
	SessionTotals(ctx context.Context, t Tenant, from, to time.Time) (Totals, error)
	// SessionDays counts the tenant's sessions per UTC day in [from, to), and their minutes:
	// livestream sessions (by creation, minutes from ingest seconds) and meeting sessions (by
	// start, minutes from their duration) together. Days without sessions are left out.
	SessionDays(ctx context.Context, t Tenant, from, to time.Time) ([]DayStat, error)
	// LivestreamDays counts the tenant's livestream sessions created per UTC day in
	// [from, to), with their ingest and viewer seconds. Days without sessions are left out.
	LivestreamDays(ctx context.Context, t Tenant, from, to time.Time) ([]LivestreamDay, error)
	// RecordingDays counts the tenant's recordings per UTC day in [from, to), and their minutes.
	RecordingDays(ctx context.Context, t Tenant, from, to time.Time) ([]DayStat, error)

	// DeliveryEvents returns the events stored from one provider delivery, in sequence order
	// (none: the delivery is new).
	DeliveryEvents(ctx context.Context, t Tenant, source, deliveryID string) ([]Event, error)
	// DeliverySequences is the sequences of DeliveryEvents alone, in order (none: the
	// delivery is new): the dedupe check, answered from the index without the events' bodies.
	DeliverySequences(ctx context.Context, t Tenant, source, deliveryID string) ([]uint64, error)
	// EventsAfter returns up to limit of the tenant's events with a sequence greater than
	// after that match f, in sequence order.
	EventsAfter(ctx context.Context, t Tenant, after uint64, f EventFilter, limit int) ([]Event, error)
	// EventsAfterBytes is EventsAfter with a byte budget: it stops before the event whose
	// body would take the bodies returned past maxBytes (<= 0: no budget), but always returns
	// at least one event. more reports that it stopped for the budget: another matching
	// event follows the last one returned. (Stopping at limit says nothing about more.)
	EventsAfterBytes(ctx context.Context, t Tenant, after uint64, f EventFilter, limit, maxBytes int) (events []Event, more bool, err error)
	// EachEventAfter reads what EventsAfterBytes would return, with the same limit, budget
	// and more, but only what a replay sends: it calls fn with each event's sequence and
	// body, in sequence order. body is valid only during the call (the read reuses it): copy
	// what is kept. An error from fn ends the read and is returned.
	EachEventAfter(ctx context.Context, t Tenant, after uint64, f EventFilter, limit, maxBytes int, fn func(seq uint64, body []byte) error) (more bool, err error)
	// Event returns one of the tenant's events.
	Event(ctx context.Context, t Tenant, sequence uint64) (Event, error)
	// RtmpClient returns the nginx-rtmp client with this clientid.
	RtmpClient(ctx context.Context, clientID uint64) (RtmpClient, error)
	// RtmpPublisher returns the livestream's publishing nginx-rtmp client.
	RtmpPublisher(ctx context.Context, t Tenant, livestreamID string) (RtmpClient, error)
	// StaleRtmpClients returns up to limit nginx-rtmp clients, of every tenant, last seen
	// before seenBefore, the longest unseen first.
	StaleRtmpClients(ctx context.Context, seenBefore time.Time, limit int) ([]RtmpClient, error)

	// Setting returns an installation-wide setting (not a tenant's), by name.
	Setting(ctx context.Context, name string) (string, error)

	// FeedBounds returns the greatest sequence ever assigned (0: none) and the greatest
	// sequence pruned by retention (0: none): events after it are all still kept.
	FeedBounds(ctx context.Context) (head, prunedThrough uint64, err error)

	WebhookReader
}

// Writer reads and writes inside a transaction.
type Writer interface {
	Reader
	// CreateApp stores a new app; ErrAlreadyExists if the tenant exists.
	CreateApp(ctx context.Context, a App) error
	// UpdateAppCredentials overwrites an app's credentials (token id and hash, webhook
	// secret, and the previous ones with their expiry); ErrNotFound if it does not exist,
	// ErrAlreadyExists if its new token id is another app's.
	UpdateAppCredentials(ctx context.Context, a App) error
	// DeleteApp deletes an app and everything of its tenant: livestreams, their sessions and
	// RTMP clients, recordings, meeting sessions, events, webhook endpoints and their
	// delivery logs. ErrNotFound if it does not exist.
	DeleteApp(ctx context.Context, t Tenant) error
	// AppendAuditEntry appends e to the admin audit log and sets e.Seq.
	AppendAuditEntry(ctx context.Context, e *AuditEntry) error
	// CreateLivestream stores a new livestream; ErrAlreadyExists on a duplicate id, stream
	// key, or meeting.
	CreateLivestream(ctx context.Context, l Livestream) error
	// UpdateLivestream overwrites the mutable fields of a livestream (name, stream key,
	// status, disabled, updated_at); ErrNotFound if it does not exist.
	UpdateLivestream(ctx context.Context, l Livestream) error
	// DeleteLivestream deletes a livestream and its sessions; ErrNotFound if it does not exist.
	DeleteLivestream(ctx context.Context, t Tenant, id string) error
	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s Session) error
	// UpdateSession overwrites a session's mutable fields (times, seconds, err_message,
	// updated_at); ErrNotFound if it does not exist.
	UpdateSession(ctx context.Context, s Session) error
	// CreateRecording stores a finished recording, unless the tenant has one with its Key
	// (then nothing, and no error); ErrAlreadyExists for its id.
	CreateRecording(ctx context.Context, r Recording) error
	// RecordMeetingSession stores a meeting session, or updates the one with its id: set
	// fields of ms overwrite, zero ones keep what is stored.
	RecordMeetingSession(ctx context.Context, ms MeetingSession) error
	// AppendEvent appends e to the feed and sets e.Sequence. ErrAlreadyExists when the
	// tenant already has an event of e.Source with e.DedupeKey.
	AppendEvent(ctx context.Context, e *Event) error
	// PutRtmpClient stores an nginx-rtmp client, replacing the one with its ClientID.
	PutRtmpClient(ctx context.Context, c RtmpClient) error
	// DeleteRtmpClient deletes the nginx-rtmp client with this clientid; ErrNotFound if none.
	DeleteRtmpClient(ctx context.Context, clientID uint64) error
	// CreateSetting stores an installation-wide setting; ErrAlreadyExists if it is set.
	CreateSetting(ctx context.Context, name, value string) error
	// PruneEvents deletes the events received before `before` (zero: no age limit) and all
	// but the newest keepLast (0: no count limit), at most limit of them, the oldest first
	// (<= 0: no limit), and returns how many it deleted. With a limit, call it again (in a
	// transaction of its own: each holds the write lock) until it deletes none. A webhook
	// endpoint whose cursor is before one of its app's events it deletes gets a delivery log
	// entry saying so (failed, attempt 0), and its cursor moved past them.
	PruneEvents(ctx context.Context, before time.Time, keepLast uint64, limit int) (int, error)

	WebhookWriter
}

// Store is a transactional store. Implementations are safe for concurrent use.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a read-write transaction, committed (durably) before Update returns
	// nil. If fn returns an error, nothing it wrote is kept and Update returns that error.
	// Implementations may commit several concurrent Updates in one transaction (group
	// commit); each fn still sees the writes of those before it and fails alone.
	Update(ctx context.Context, fn func(Writer) error) error
	// OnCommit sets the function called with the events each commit appended, in sequence
	// order, after the commit and before the Updates that appended them return. Calls are
	// made one at a time, in commit order. Set it before the first Update.
	OnCommit(fn func([]Event))
	// Close releases the store.
	Close() error
}

// LogFollower is implemented by stores that other processes write to as well (PostgreSQL):
// there OnCommit, which reports this process's commits only, cannot feed a node's hub, and
// the node follows the log instead. A store that is not a LogFollower (SQLite: one process
// is the only writer) feeds the hub with OnCommit, which runs before the writers are
// answered, so a subscriber connected to the node that answered 200 already has the event
// queued; a LogFollower gives that only eventually (within a poll interval), on every node
// alike.
//
// Why not one mechanism for both: following the log by reading it costs a query per wake-up
// and a wake-up path (NOTIFY, a poll) that SQLite does not need, and it gives up the
// synchronous hand-over; and OnCommit on a shared database would publish this node's commit
// while another node's earlier commit is not yet read, which is either a gap or a
// reordering. So a hub is fed by exactly one of them.
type LogFollower interface {
	// FollowLog calls fn with every event committed after sequence `after`, by any process,
	// of every tenant, in sequence order, each once, in batches (one call at a time), until
	// ctx ends; then it returns ctx.Err(). It survives the database going away and coming
	// back (it retries, reporting trouble through the store's logger): it never skips an
	// event, since it reads the log by "sequence > the last one delivered" and sequences are
	// visible in commit order (see the contract above). The one exception is retention: a
	// follower that fell behind it (a stalled process, a long outage) finds events after its
	// last one pruned. It then calls gap with the sequence pruned through, before fn with
	// the events after it: the events between may be missing from what fn got.
	FollowLog(ctx context.Context, after uint64, fn func([]Event), gap func(prunedThrough uint64)) error
}

// Until is an exclusive upper bound at t for the filters and ranges whose zero time means "no
// bound" (LivestreamFilter.CreatedTo, the analytics' to): t itself, or for the zero time
// (0001-01-01T00:00:00Z, which a client may well send) the least time after it, which still
// bounds: nothing is before it.
func Until(t time.Time) time.Time {
	if t.IsZero() {
		return t.Add(time.Nanosecond)
	}
	return t
}
