// Package admin implements AdminService, the operators' API: managing apps and reading the
// admin audit log. The server's interceptor authenticates every call with an operator token
// (auth.Operators) and puts its actor in the context; each write is done by auth.Manager,
// which records it in the audit log under that actor.
package admin

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
)

// Default and greatest page size of ListAuditEntries.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

// Server implements livegatev1.AdminServiceServer.
type Server struct {
	livegatev1.UnimplementedAdminServiceServer
	store store.Store
	now   func() time.Time
}

// NewServer returns an AdminService over st.
func NewServer(st store.Store) *Server { return &Server{store: st, now: time.Now} }

var _ livegatev1.AdminServiceServer = (*Server)(nil)

// manager acts for the call's operator.
func (s *Server) manager(ctx context.Context) (auth.Manager, error) {
	actor, ok := auth.ActorFrom(ctx)
	if !ok {
		return auth.Manager{}, apierror.New(apierror.ReasonUnauthenticated, "missing operator token")
	}
	return auth.Manager{Store: s.store, Actor: actor, Now: s.now}, nil
}

func notFound(t store.Tenant, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("app", t.AccountID+"/"+t.AppID)
	}
	return err
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// ListApps lists every app, without credentials.
func (s *Server) ListApps(ctx context.Context, _ *livegatev1.ListAppsRequest) (*livegatev1.ListAppsResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	apps, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &livegatev1.ListAppsResponse{Apps: make([]*livegatev1.AppInfo, 0, len(apps))}
	for _, a := range apps {
		info := &livegatev1.AppInfo{AccountId: a.AccountID, AppId: a.AppID, CreatedAt: timestamppb.New(a.CreatedAt)}
		if a.PrevTokenID != "" && now.Before(a.PrevTokenExpiresAt) {
			info.PreviousTokenValidUntil = timestamppb.New(a.PrevTokenExpiresAt)
		}
		if a.PrevWebhookSecret != "" && now.Before(a.PrevWebhookSecretExpiresAt) {
			info.PreviousWebhookSecretValidUntil = timestamppb.New(a.PrevWebhookSecretExpiresAt)
		}
		out.Apps = append(out.Apps, info)
	}
	return out, nil
}

// CreateApp creates an app; ALREADY_EXISTS if it exists.
func (s *Server) CreateApp(ctx context.Context, req *livegatev1.CreateAppRequest) (*livegatev1.CreateAppResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	creds, err := m.Create(ctx, store.TenantOf(req))
	if err != nil {
		return nil, err
	}
	return &livegatev1.CreateAppResponse{AccountId: creds.AccountID, AppId: creds.AppID, ApiToken: creds.APIToken, WebhookSecret: creds.WebhookSecret}, nil
}

// grace is a request's grace: unset, auth.DefaultGrace.
func grace(d *durationpb.Duration) time.Duration {
	if d == nil {
		return auth.DefaultGrace
	}
	return d.AsDuration()
}

// RotateAppToken gives an app a new API token.
func (s *Server) RotateAppToken(ctx context.Context, req *livegatev1.RotateAppTokenRequest) (*livegatev1.RotateAppTokenResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	t := store.TenantOf(req)
	r, err := m.RotateToken(ctx, t, grace(req.GetGrace()))
	if err != nil {
		return nil, notFound(t, err)
	}
	return &livegatev1.RotateAppTokenResponse{AccountId: r.AccountID, AppId: r.AppID, ApiToken: r.APIToken, PreviousValidUntil: ts(r.PreviousValidUntil)}, nil
}

// RotateAppWebhookSecret gives an app a new webhook secret.
func (s *Server) RotateAppWebhookSecret(ctx context.Context, req *livegatev1.RotateAppWebhookSecretRequest) (*livegatev1.RotateAppWebhookSecretResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	t := store.TenantOf(req)
	r, err := m.RotateWebhookSecret(ctx, t, grace(req.GetGrace()))
	if err != nil {
		return nil, notFound(t, err)
	}
	return &livegatev1.RotateAppWebhookSecretResponse{AccountId: r.AccountID, AppId: r.AppID, WebhookSecret: r.WebhookSecret, PreviousValidUntil: ts(r.PreviousValidUntil)}, nil
}

// DeleteApp deletes an app and all its data.
func (s *Server) DeleteApp(ctx context.Context, req *livegatev1.DeleteAppRequest) (*livegatev1.DeleteAppResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	t := store.TenantOf(req)
	if err := m.Delete(ctx, t); err != nil {
		return nil, notFound(t, err)
	}
	return &livegatev1.DeleteAppResponse{Success: true}, nil
}

// ListAuditEntries reads the admin audit log.
func (s *Server) ListAuditEntries(ctx context.Context, req *livegatev1.ListAuditEntriesRequest) (*livegatev1.ListAuditEntriesResponse, error) {
	m, err := s.manager(ctx)
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = DefaultAuditPage
	}
	entries, err := m.AuditEntries(ctx, req.GetAfter(), min(limit, MaxAuditPage))
	if err != nil {
		return nil, err
	}
	out := &livegatev1.ListAuditEntriesResponse{Entries: make([]*livegatev1.AuditEntry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, &livegatev1.AuditEntry{
			Sequence: e.Seq, Time: timestamppb.New(e.At), Actor: e.Actor, Action: e.Action,
			AccountId: e.AccountID, AppId: e.AppID, Detail: e.Detail,
		})
	}
	return out, nil
}
