package store

import (
	"context"
	"time"
)

// Outbound webhooks: the HTTP endpoints an app registers to receive its events. Each
// endpoint is a durable subscriber of the app's feed: its Cursor is the last sequence it
// is done with, and livegate sends it the next matching event after that, in sequence order.

// WebhookEndpoint is an app's outbound webhook endpoint.
type WebhookEndpoint struct {
	Tenant
	// ID is a UUID (so no endpoint is called "100ms" or "amity", the inbound routes).
	ID   string
	Name string
	URL  string
	// Events is the filter as the app gave it, in its order: livegate event types, type
	// prefixes ending in '.', RealtimeKit event names. Never empty.
	Events  []string
	Enabled bool
	// Secret signs deliveries (Standard Webhooks: "whsec_" and base64 of the key).
	Secret string
	// PrevSecret signs too until PrevSecretExpiresAt, after a rotation (zero: none).
	PrevSecret          string
	PrevSecretExpiresAt time.Time
	// Cursor is the sequence of the last event the endpoint is done with (delivered with a
	// 2xx, or given up); the next delivery is the first matching event after it. Set at
	// creation to the feed's head: an endpoint receives the events after its creation.
	Cursor uint64
	// FailingSince is when the current run of failed attempts began (zero: the last attempt
	// succeeded, or none was made).
	FailingSince time.Time
	// DisabledReason says why livegate disabled the endpoint (then Enabled is false); empty
	// when it is enabled or the app disabled it.
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WebhookOutcome is what came of an attempt.
type WebhookOutcome string

// Outcomes of a delivery attempt.
const (
	// WebhookSucceeded: the endpoint answered 2xx.
	WebhookSucceeded WebhookOutcome = "succeeded"
	// WebhookRetrying: the attempt failed and another one is scheduled.
	WebhookRetrying WebhookOutcome = "retrying"
	// WebhookFailed: the attempt failed and livegate gave the event up.
	WebhookFailed WebhookOutcome = "failed"
)

// MaxWebhookResponseBody is how much of an endpoint's answer the delivery log keeps.
const MaxWebhookResponseBody = 1024

// WebhookAttempt is one attempt to deliver an event to an endpoint: an entry of the
// endpoint's delivery log.
type WebhookAttempt struct {
	Tenant
	EndpointID string
	// ID is assigned by AppendWebhookAttempt: increasing, never reused.
	ID uint64
	At time.Time
	// Sequence is the event's (0 for a test ping).
	Sequence uint64
	// EventID is the webhook-id header: the event's id, the same on every attempt.
	EventID   string
	EventType string
	// Attempt counts the attempts at this event, from 1.
	Attempt int
	// StatusCode is the endpoint's HTTP status (0: no answer: timeout, connection error).
	StatusCode int
	Latency    time.Duration
	// Error says what went wrong (empty on success).
	Error string
	// ResponseBody is the start of the endpoint's answer (at most MaxWebhookResponseBody bytes).
	ResponseBody string
	Outcome      WebhookOutcome
}

// WebhookReader reads outbound webhook endpoints and their delivery logs (part of Reader).
type WebhookReader interface {
	// WebhookEndpoint returns one of the tenant's endpoints.
	WebhookEndpoint(ctx context.Context, t Tenant, id string) (WebhookEndpoint, error)
	// ListWebhookEndpoints returns the tenant's endpoints, oldest first (created_at, id).
	ListWebhookEndpoints(ctx context.Context, t Tenant) ([]WebhookEndpoint, error)
	// EnabledWebhookEndpoints returns every tenant's enabled endpoints, ordered by id.
	EnabledWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// WebhookAttempts returns up to limit attempts of the endpoint with an ID less than
	// before (0: no bound), newest first.
	WebhookAttempts(ctx context.Context, t Tenant, endpointID string, before uint64, limit int) ([]WebhookAttempt, error)
}

// WebhookWriter writes outbound webhook endpoints and their delivery logs (part of Writer).
type WebhookWriter interface {
	// CreateWebhookEndpoint stores a new endpoint; ErrAlreadyExists on a duplicate id.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// UpdateWebhookEndpoint overwrites what the app controls: name, URL, events, enabled,
	// secrets, disabled reason, updated_at. Not the cursor or FailingSince (the deliverer's:
	// MoveWebhookCursor). ErrNotFound if it does not exist.
	UpdateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// MoveWebhookCursor sets the endpoint's cursor to `to` and FailingSince to failingSince,
	// only if its cursor still is `from`, and reports whether it did. The deliverer moves the
	// cursor this way, so a replay (which moves it back) or another node's delivery is never
	// overwritten. ErrNotFound if the endpoint does not exist.
	MoveWebhookCursor(ctx context.Context, t Tenant, id string, from, to uint64, failingSince time.Time) (bool, error)
	// StepWebhookCursor moves the endpoint's cursor from `from` to `to` over events it does
	// not take: as MoveWebhookCursor (FailingSince left as it is), and only if the endpoint
	// is also unchanged since updatedAt (every change of its events, URL or state sets
	// updated_at), so that a step decided with its old events never skips an event its new
	// ones take. ErrNotFound if the endpoint does not exist.
	StepWebhookCursor(ctx context.Context, t Tenant, id string, from, to uint64, updatedAt time.Time) (bool, error)
	// DeleteWebhookEndpoint deletes an endpoint and its delivery log; ErrNotFound if it does
	// not exist.
	DeleteWebhookEndpoint(ctx context.Context, t Tenant, id string) error
	// AppendWebhookAttempt appends a to its endpoint's delivery log and sets a.ID. It stores
	// a.Error and a.ResponseBody as WebhookText makes them (ResponseBody cut to
	// MaxWebhookResponseBody) and sets them so. ErrNotFound if the endpoint does not exist
	// (deleted meanwhile): the log of a deleted endpoint stays empty.
	AppendWebhookAttempt(ctx context.Context, a *WebhookAttempt) error
	// PruneWebhookAttempts deletes the attempts made before `before`, of every endpoint, and
	// returns how many it deleted.
	PruneWebhookAttempts(ctx context.Context, before time.Time) (int, error)
}
