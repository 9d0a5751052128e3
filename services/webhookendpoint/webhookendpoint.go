// Package webhookendpoint implements livegate.v1.WebhookEndpointService: the management API
// of an app's outbound webhook endpoints (RealtimeKit's webhooks API and livegate's
// additions: secret rotation, the delivery log, replay, a test ping) over the store. The
// deliveries themselves are the Deliverer's.
package webhookendpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/webhookevents"
)

// Deliverer sends the endpoints their events (the delivery engine).
type Deliverer interface {
	// Wake tells the deliverer that an endpoint was created, changed, replayed or deleted.
	Wake(t store.Tenant, endpointID string)
	// Ping sends a test event (type "webhook.test") to the endpoint now, outside its order, logs the attempt and returns it.
	Ping(ctx context.Context, e store.WebhookEndpoint) (store.WebhookAttempt, error)
}

// Defaults and bounds.
const (
	// DefaultMaxPerApp is how many endpoints an app may have when Options.MaxPerApp is 0.
	DefaultMaxPerApp = 20
	// DefaultGrace is how long a rotated secret still signs when the request sets no grace.
	DefaultGrace = 24 * time.Hour
	// MaxGrace is the longest grace a rotation may give (the proto says it too).
	MaxGrace = 7 * 24 * time.Hour
	// DefaultPageSize is ListWebhookDeliveries' page when the request sets none.
	DefaultPageSize = 50
	// resolveTimeout bounds the DNS lookup of a URL's host at registration.
	resolveTimeout = 5 * time.Second
)

// States of an endpoint (WebhookEndpoint.state).
const (
	StateEnabled  = "enabled"
	StateFailing  = "failing"
	StateDisabled = "disabled"
)

// Options configure the service.
type Options struct {
	// Policy says what a registered URL may point at (--webhooks-allow-http,
	// --webhooks-allow-private).
	Policy netguard.Policy
	// Resolver resolves a URL's host at registration; nil: net.DefaultResolver.
	Resolver *net.Resolver
	// MaxPerApp bounds an app's endpoints; 0: DefaultMaxPerApp; negative: no bound.
	MaxPerApp int
	// Deliverer delivers; nil: none runs (TestWebhook answers UNAVAILABLE).
	Deliverer Deliverer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Server implements WebhookEndpointService.
type Server struct {
	livegatev1.UnsafeWebhookEndpointServiceServer

	store store.Store
	opts  Options
}

var _ livegatev1.WebhookEndpointServiceServer = (*Server)(nil)

// NewServer returns a WebhookEndpointService over st.
func NewServer(st store.Store, opts Options) *Server {
	if opts.MaxPerApp == 0 {
		opts.MaxPerApp = DefaultMaxPerApp
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{store: st, opts: opts}
}

// now is the clock as the stores keep times: UTC, to the microsecond (so an answer shows
// the times a later read shows).
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

func (s *Server) wake(t store.Tenant, id string) {
	if s.opts.Deliverer != nil {
		s.opts.Deliverer.Wake(t, id)
	}
}

// checkURL checks a URL to register (netguard.Policy.CheckURL): INVALID_ARGUMENT naming url.
func (s *Server) checkURL(ctx context.Context, raw string) error {
	if raw == "" {
		return apierror.InvalidArgument("url", "is required")
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	if err := s.opts.Policy.CheckURL(ctx, raw, s.opts.Resolver); err != nil {
		return apierror.InvalidArgument("url", err.Error())
	}
	return nil
}

// checkEvents checks an events list (webhookevents.Parse).
func checkEvents(events []string) error {
	_, err := webhookevents.Parse(events)
	return err
}

func notFound(id string) error { return apierror.NotFound("webhook", id) }

// get reads one of the tenant's endpoints; NOT_FOUND names it.
func get(ctx context.Context, r store.Reader, t store.Tenant, id string) (store.WebhookEndpoint, error) {
	e, err := r.WebhookEndpoint(ctx, t, id)
	if errors.Is(err, store.ErrNotFound) {
		return e, notFound(id)
	}
	return e, err
}

// CreateWebhook registers an endpoint, its cursor at the feed's head.
func (s *Server) CreateWebhook(ctx context.Context, req *livegatev1.CreateWebhookRequest) (*livegatev1.CreateWebhookResponse, error) {
	if err := checkEvents(req.GetEvents()); err != nil {
		return nil, err
	}
	if err := s.checkURL(ctx, req.GetUrl()); err != nil {
		return nil, err
	}
	now := s.now()
	e := store.WebhookEndpoint{
		Tenant:    store.TenantOf(req),
		ID:        uuid.NewString(),
		Name:      req.GetName(),
		URL:       req.GetUrl(),
		Events:    req.GetEvents(),
		Enabled:   req.Enabled == nil || req.GetEnabled(),
		Secret:    outbound.NewSecret(),
		CreatedAt: now,
		UpdatedAt: now,
	}
	err := s.store.Update(ctx, func(w store.Writer) error {
		// Inside the write transaction (they take turns): the count and the head are exact.
		if s.opts.MaxPerApp > 0 {
			es, err := w.ListWebhookEndpoints(ctx, e.Tenant)
			if err != nil {
				return err
			}
			if len(es) >= s.opts.MaxPerApp {
				return tooMany(s.opts.MaxPerApp)
			}
		}
		head, _, err := w.FeedBounds(ctx)
		if err != nil {
			return err
		}
		e.Cursor = head
		return w.CreateWebhookEndpoint(ctx, e)
	})
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	s.wake(e.Tenant, e.ID)
	return &livegatev1.CreateWebhookResponse{Success: true, Data: s.toProto(e, true)}, nil
}

// tooMany is the answer to a create past the app's endpoints: TOO_MANY_REQUESTS (HTTP 429),
// as every per-app limit answers, without Retry-After: waiting frees nothing.
func tooMany(limit int) error {
	return apierror.New(apierror.ReasonTooManyRequests,
		"the app has reached its limit of %d webhooks: delete one before creating another", limit).
		With("limit", strconv.Itoa(limit)).
		With("scope", "app")
}

// ListWebhooks lists the app's endpoints, oldest first.
func (s *Server) ListWebhooks(ctx context.Context, req *livegatev1.ListWebhooksRequest) (*livegatev1.ListWebhooksResponse, error) {
	var es []store.WebhookEndpoint
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		es, err = r.ListWebhookEndpoints(ctx, store.TenantOf(req))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	out := make([]*livegatev1.WebhookEndpoint, len(es))
	for i, e := range es {
		out[i] = s.toProto(e, false)
	}
	return &livegatev1.ListWebhooksResponse{Success: true, Data: out}, nil
}

// GetWebhook fetches one endpoint.
func (s *Server) GetWebhook(ctx context.Context, req *livegatev1.GetWebhookRequest) (*livegatev1.GetWebhookResponse, error) {
	var e store.WebhookEndpoint
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		e, err = get(ctx, r, store.TenantOf(req), req.GetWebhookId())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get webhook: %w", err)
	}
	return &livegatev1.GetWebhookResponse{Success: true, Data: s.toProto(e, false)}, nil
}

// change applies fn to an endpoint in a write transaction and stores it with updated_at
// now (the time fn is given).
func (s *Server) change(ctx context.Context, t store.Tenant, id string, fn func(e *store.WebhookEndpoint, now time.Time)) (store.WebhookEndpoint, error) {
	var e store.WebhookEndpoint
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if e, err = get(ctx, w, t, id); err != nil {
			return err
		}
		wasEnabled := e.Enabled
		now := s.now()
		fn(&e, now)
		e.UpdatedAt = now
		if err := w.UpdateWebhookEndpoint(ctx, e); err != nil {
			return err
		}
		if e.Enabled && !wasEnabled && !e.FailingSince.IsZero() {
			// Enabled again: a fresh start, not a run of failures that began before it was
			// disabled (which would disable it again at the next failure).
			if _, err := w.MoveWebhookCursor(ctx, t, id, e.Cursor, e.Cursor, time.Time{}); err != nil {
				return err
			}
			e.FailingSince = time.Time{}
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	s.wake(t, id)
	return e, nil
}

// setEnabled enables or disables an endpoint as the app asks. Enabling clears livegate's
// reason for disabling it; disabling one livegate disabled keeps the reason.
func setEnabled(e *store.WebhookEndpoint, enabled bool) {
	if enabled != e.Enabled || enabled {
		e.DisabledReason = ""
	}
	e.Enabled = enabled
}

// EditWebhook changes the fields the request sets.
func (s *Server) EditWebhook(ctx context.Context, req *livegatev1.EditWebhookRequest) (*livegatev1.EditWebhookResponse, error) {
	if len(req.GetEvents()) > 0 {
		if err := checkEvents(req.GetEvents()); err != nil {
			return nil, err
		}
	}
	if req.Url != nil {
		if err := s.checkURL(ctx, req.GetUrl()); err != nil {
			return nil, err
		}
	}
	e, err := s.change(ctx, store.TenantOf(req), req.GetWebhookId(), func(e *store.WebhookEndpoint, _ time.Time) {
		if req.Name != nil {
			e.Name = req.GetName()
		}
		if req.Url != nil {
			e.URL = req.GetUrl()
		}
		if len(req.GetEvents()) > 0 {
			e.Events = req.GetEvents()
		}
		if req.Enabled != nil {
			setEnabled(e, req.GetEnabled())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("edit webhook: %w", err)
	}
	return &livegatev1.EditWebhookResponse{Success: true, Data: s.toProto(e, false)}, nil
}

// ReplaceWebhook sets name, url, events and enabled as a create would.
func (s *Server) ReplaceWebhook(ctx context.Context, req *livegatev1.ReplaceWebhookRequest) (*livegatev1.ReplaceWebhookResponse, error) {
	if err := checkEvents(req.GetEvents()); err != nil {
		return nil, err
	}
	if err := s.checkURL(ctx, req.GetUrl()); err != nil {
		return nil, err
	}
	e, err := s.change(ctx, store.TenantOf(req), req.GetWebhookId(), func(e *store.WebhookEndpoint, _ time.Time) {
		e.Name, e.URL, e.Events = req.GetName(), req.GetUrl(), req.GetEvents()
		setEnabled(e, req.Enabled == nil || req.GetEnabled())
	})
	if err != nil {
		return nil, fmt.Errorf("replace webhook: %w", err)
	}
	return &livegatev1.ReplaceWebhookResponse{Success: true, Data: s.toProto(e, false)}, nil
}

// DeleteWebhook deletes an endpoint and its delivery log.
func (s *Server) DeleteWebhook(ctx context.Context, req *livegatev1.DeleteWebhookRequest) (*livegatev1.DeleteWebhookResponse, error) {
	t, id := store.TenantOf(req), req.GetWebhookId()
	var e store.WebhookEndpoint
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if e, err = get(ctx, w, t, id); err != nil {
			return err
		}
		return w.DeleteWebhookEndpoint(ctx, t, id)
	})
	if err != nil {
		return nil, fmt.Errorf("delete webhook: %w", err)
	}
	s.wake(t, id)
	return &livegatev1.DeleteWebhookResponse{Success: true, Data: s.toProto(e, false)}, nil
}

// RotateWebhookSecret gives an endpoint a new secret; the previous one signs too for the grace.
func (s *Server) RotateWebhookSecret(ctx context.Context, req *livegatev1.RotateWebhookSecretRequest) (*livegatev1.RotateWebhookSecretResponse, error) {
	grace := DefaultGrace
	if req.Grace != nil {
		grace = req.GetGrace().AsDuration()
	}
	if grace < 0 || grace > MaxGrace { // the proto's rule too; kept here for callers that skip validation
		return nil, apierror.InvalidArgument("grace", fmt.Sprintf("must be between 0s and %s", MaxGrace))
	}
	secret := outbound.NewSecret()
	e, err := s.change(ctx, store.TenantOf(req), req.GetWebhookId(), func(e *store.WebhookEndpoint, now time.Time) {
		e.PrevSecret, e.PrevSecretExpiresAt = "", time.Time{}
		if grace > 0 {
			e.PrevSecret, e.PrevSecretExpiresAt = e.Secret, now.Add(grace)
		}
		e.Secret = secret
	})
	if err != nil {
		return nil, fmt.Errorf("rotate the secret of webhook: %w", err)
	}
	return &livegatev1.RotateWebhookSecretResponse{Success: true, Data: s.toProto(e, true)}, nil
}

// ListWebhookDeliveries pages through an endpoint's delivery log, newest first. The page
// token is the id of the last attempt of the previous page.
func (s *Server) ListWebhookDeliveries(ctx context.Context, req *livegatev1.ListWebhookDeliveriesRequest) (*livegatev1.ListWebhookDeliveriesResponse, error) {
	var before uint64
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.ParseUint(tok, 10, 64)
		if err != nil || n == 0 {
			return nil, apierror.InvalidArgument("page_token", "is not a token from next_page_token")
		}
		before = n
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = DefaultPageSize
	}
	t, id := store.TenantOf(req), req.GetWebhookId()
	var as []store.WebhookAttempt
	err := s.store.View(ctx, func(r store.Reader) error {
		if _, err := get(ctx, r, t, id); err != nil {
			return err
		}
		var err error
		as, err = r.WebhookAttempts(ctx, t, id, before, size+1) // one more: is there a next page?
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	resp := &livegatev1.ListWebhookDeliveriesResponse{Success: true}
	if len(as) > size {
		as = as[:size]
		resp.NextPageToken = strconv.FormatUint(as[size-1].ID, 10)
	}
	resp.Data = make([]*livegatev1.WebhookDelivery, len(as))
	for i, a := range as {
		resp.Data[i] = DeliveryToProto(a)
	}
	return resp, nil
}

// ReplayWebhook moves an endpoint's cursor to after_sequence.
func (s *Server) ReplayWebhook(ctx context.Context, req *livegatev1.ReplayWebhookRequest) (*livegatev1.ReplayWebhookResponse, error) {
	t, id, after := store.TenantOf(req), req.GetWebhookId(), req.GetAfterSequence()
	var e store.WebhookEndpoint
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if e, err = get(ctx, w, t, id); err != nil {
			return err
		}
		head, pruned, err := w.FeedBounds(ctx)
		if err != nil {
			return err
		}
		to := after
		switch {
		case after > head:
			return apierror.CursorAhead("after_sequence", after, head, "replay from")
		case after == 0:
			to = pruned // from the oldest event kept
		case after < pruned:
			return apierror.CursorCompacted("after_sequence", after, pruned, "replay")
		}
		// The transaction holds the write lock: the cursor read is the cursor, so the
		// compare-and-set moves it (a deliverer that read the old one fails its own).
		moved, err := w.MoveWebhookCursor(ctx, t, id, e.Cursor, to, e.FailingSince)
		if err != nil {
			return err
		}
		if !moved {
			return fmt.Errorf("the cursor of webhook %s moved within a write transaction", id)
		}
		e.Cursor = to
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay webhook: %w", err)
	}
	s.wake(t, id)
	return &livegatev1.ReplayWebhookResponse{Success: true, Data: s.toProto(e, false)}, nil
}

// TestWebhook pings an endpoint through the deliverer.
func (s *Server) TestWebhook(ctx context.Context, req *livegatev1.TestWebhookRequest) (*livegatev1.TestWebhookResponse, error) {
	t, id := store.TenantOf(req), req.GetWebhookId()
	var e store.WebhookEndpoint
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		e, err = get(ctx, r, t, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("test webhook: %w", err)
	}
	if s.opts.Deliverer == nil {
		return nil, apierror.New(apierror.ReasonUnavailable, "delivery is not running: this server does not send webhooks")
	}
	a, err := s.opts.Deliverer.Ping(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("test webhook %s: %w", id, err)
	}
	return &livegatev1.TestWebhookResponse{Success: true, Data: DeliveryToProto(a)}, nil
}

// State is an endpoint's state as the API shows it.
func State(e store.WebhookEndpoint) string {
	switch {
	case !e.Enabled:
		return StateDisabled
	case !e.FailingSince.IsZero():
		return StateFailing
	}
	return StateEnabled
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// toProto is an endpoint as the API shows it; the secret only when withSecret (create and
// rotate), the previous secret's expiry while it signs.
func (s *Server) toProto(e store.WebhookEndpoint, withSecret bool) *livegatev1.WebhookEndpoint {
	events := e.Events
	if events == nil {
		events = []string{}
	}
	p := &livegatev1.WebhookEndpoint{
		Id:             e.ID,
		Name:           e.Name,
		Url:            e.URL,
		Events:         events,
		Enabled:        e.Enabled,
		CreatedAt:      timestamppb.New(e.CreatedAt),
		UpdatedAt:      timestamppb.New(e.UpdatedAt),
		Cursor:         e.Cursor,
		State:          State(e),
		DisabledReason: e.DisabledReason,
		FailingSince:   timestamp(e.FailingSince),
	}
	if withSecret {
		p.Secret = &e.Secret
	}
	if e.PrevSecret != "" && e.PrevSecretExpiresAt.After(s.now()) {
		p.PreviousSecretExpiresAt = timestamppb.New(e.PrevSecretExpiresAt)
	}
	return p
}

// DeliveryToProto is an attempt as the delivery log shows it.
func DeliveryToProto(a store.WebhookAttempt) *livegatev1.WebhookDelivery {
	return &livegatev1.WebhookDelivery{
		Id:           a.ID,
		At:           timestamp(a.At),
		Sequence:     a.Sequence,
		EventId:      a.EventID,
		EventType:    a.EventType,
		Attempt:      int32(a.Attempt),
		StatusCode:   int32(a.StatusCode),
		LatencyMs:    float64(a.Latency.Microseconds()) / 1000,
		Error:        a.Error,
		ResponseBody: a.ResponseBody,
		Outcome:      string(a.Outcome),
	}
}
