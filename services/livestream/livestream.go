// Package livestream implements livegate.v1.LivestreamService: RealtimeKit's livestream API
// over the store.
package livestream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
)

// Default and largest page sizes of list calls.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// URLs builds the addresses a livestream hands out.
type URLs struct {
	// IngestBase is what ingest_server returns: the RTMP application URL encoders publish to,
	// e.g. rtmp://localhost:1935/live. The encoder's stream name is the stream key.
	IngestBase string
	// PlaybackBase is the HLS base URL; a livestream plays at <PlaybackBase>/<id>/index.m3u8
	// (the media server renames the stream from its key to the livestream id).
	PlaybackBase string
}

// PlaybackURL is where viewers watch a livestream. It never contains the stream key.
func (u URLs) PlaybackURL(livestreamID string) string {
	return strings.TrimRight(u.PlaybackBase, "/") + "/" + livestreamID + "/index.m3u8"
}

// Server implements LivestreamService.
type Server struct {
	livegatev1.UnsafeLivestreamServiceServer

	store store.Store
	urls  URLs
	now   func() time.Time
}

// NewServer returns a LivestreamService over st.
func NewServer(st store.Store, urls URLs) *Server {
	// To the microsecond the stores keep: a create's answer shows the times a read gives.
	return &Server{store: st, urls: urls, now: func() time.Time { return time.Now().Truncate(time.Microsecond) }}
}

var _ livegatev1.LivestreamServiceServer = (*Server)(nil)

// NewStreamKey returns a random stream key with 130 bits of entropy.
func NewStreamKey() string { return rand.Text() }

// CreateLivestream creates an independent livestream.
func (s *Server) CreateLivestream(ctx context.Context, req *livegatev1.CreateLivestreamRequest) (*livegatev1.CreateLivestreamResponse, error) {
	now := s.now().UTC()
	l := store.Livestream{
		Tenant:    store.TenantOf(req),
		ID:        uuid.NewString(),
		Name:      req.GetName(),
		StreamKey: NewStreamKey(),
		Status:    store.StatusIdle,
		Provider:  payload.SourceRTMP,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := s.store.Update(ctx, func(w store.Writer) error { return w.CreateLivestream(ctx, l) }); err != nil {
		return nil, fmt.Errorf("create livestream: %w", err)
	}
	return &livegatev1.CreateLivestreamResponse{Success: true, Data: s.toProto(l)}, nil
}

// ListLivestreams lists the tenant's livestreams.
func (s *Server) ListLivestreams(ctx context.Context, req *livegatev1.ListLivestreamsRequest) (*livegatev1.ListLivestreamsResponse, error) {
	f := store.LivestreamFilter{ExcludeMeetings: req.GetExcludeMeetings()}
	if req.GetStatus() != livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED {
		f.Status = store.Status(req.GetStatus().String())
	}
	if req.StartTime != nil {
		f.CreatedFrom = req.GetStartTime().AsTime()
	}
	if req.EndTime != nil {
		f.CreatedTo = store.Until(req.GetEndTime().AsTime())
	}
	if req.GetSortOrder() == livegatev1.SortOrder_ASC {
		f.Order = store.Ascending
	}
	f.Offset, f.Limit = page(req.GetPageNo(), req.GetPerPage())

	var (
		list  []store.Livestream
		total int
	)
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		list, total, err = r.ListLivestreams(ctx, store.TenantOf(req), f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list livestreams: %w", err)
	}
	data := &livegatev1.ListLivestreamsData{
		Livestreams: make([]*livegatev1.Livestream, 0, len(list)),
		Paging:      paging(f.Offset, len(list), total),
	}
	for _, l := range list {
		data.Livestreams = append(data.Livestreams, s.toProto(l))
	}
	return &livegatev1.ListLivestreamsResponse{Success: true, Data: data}, nil
}

// StartMeetingLivestream starts livestreaming a meeting.
func (s *Server) StartMeetingLivestream(ctx context.Context, req *livegatev1.StartMeetingLivestreamRequest) (*livegatev1.StartMeetingLivestreamResponse, error) {
	t := store.TenantOf(req)
	now := s.now().UTC()
	var l store.Livestream
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		l, err = w.LivestreamByMeeting(ctx, t, req.GetMeetingId())
		switch {
		case errors.Is(err, store.ErrNotFound):
			// A new livestream: no status yet, Invoke creates it INVOKED.
			l = store.Livestream{
				Tenant:    t,
				ID:        uuid.NewString(),
				Name:      req.GetName(),
				MeetingID: req.GetMeetingId(),
				StreamKey: NewStreamKey(),
				Provider:  payload.SourceHMS,
				CreatedAt: now,
			}
		case err != nil:
			return err
		case req.GetName() != "": // kept only if Invoke lets it start
			l.Name = req.GetName()
		}
		_, err = projection.Invoke(ctx, w, &l, projection.APICall("api.StartMeetingLivestream"), now)
		switch {
		case errors.Is(err, projection.ErrActive):
			return apierror.New(apierror.ReasonAlreadyActive,
				"meeting %q already has an active livestream %q (status %s); stop it first", req.GetMeetingId(), l.ID, l.Status).
				With("livestream_id", l.ID)
		case errors.Is(err, projection.ErrDisabled):
			return apierror.New(apierror.ReasonLivestreamDisabled, "livestream %q of meeting %q is disabled; enable it first", l.ID, req.GetMeetingId()).
				With("livestream_id", l.ID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start livestream of meeting %s: %w", req.GetMeetingId(), err)
	}
	return &livegatev1.StartMeetingLivestreamResponse{Success: true, Data: s.toProto(l)}, nil
}

// StopMeetingLivestream stops a meeting's active livestream.
func (s *Server) StopMeetingLivestream(ctx context.Context, req *livegatev1.StopMeetingLivestreamRequest) (*livegatev1.StopMeetingLivestreamResponse, error) {
	t := store.TenantOf(req)
	now := s.now().UTC()
	noActive := apierror.New(apierror.ReasonNotFound, "meeting %q has no active livestream", req.GetMeetingId()).
		With("resource", "active-livestream").With("id", req.GetMeetingId())
	var l store.Livestream
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		l, err = w.LivestreamByMeeting(ctx, t, req.GetMeetingId())
		if errors.Is(err, store.ErrNotFound) {
			return noActive
		}
		if err != nil {
			return err
		}
		if !l.Status.Active() {
			return noActive
		}
		_, err = projection.Stop(ctx, w, &l, now, -1, "", projection.APICall("api.StopMeetingLivestream"), now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stop livestream of meeting %s: %w", req.GetMeetingId(), err)
	}
	return &livegatev1.StopMeetingLivestreamResponse{
		Success: true,
		Data:    &livegatev1.MessageData{Message: fmt.Sprintf("livestream %s of meeting %s stopped", l.ID, req.GetMeetingId())},
	}, nil
}

// GetMeetingActiveLivestream returns a meeting's active livestream.
func (s *Server) GetMeetingActiveLivestream(ctx context.Context, req *livegatev1.GetMeetingActiveLivestreamRequest) (*livegatev1.GetMeetingActiveLivestreamResponse, error) {
	var l store.Livestream
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		l, err = r.LivestreamByMeeting(ctx, store.TenantOf(req), req.GetMeetingId())
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !l.Status.Active()) {
		return nil, apierror.New(apierror.ReasonNotFound, "meeting %q has no active livestream", req.GetMeetingId()).
			With("resource", "active-livestream").With("id", req.GetMeetingId())
	}
	if err != nil {
		return nil, fmt.Errorf("get active livestream of meeting %s: %w", req.GetMeetingId(), err)
	}
	return &livegatev1.GetMeetingActiveLivestreamResponse{Success: true, Data: s.toProto(l)}, nil
}

// GetLivestreamSession returns a session by id.
func (s *Server) GetLivestreamSession(ctx context.Context, req *livegatev1.GetLivestreamSessionRequest) (*livegatev1.GetLivestreamSessionResponse, error) {
	var sess store.Session
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		sess, err = r.Session(ctx, store.TenantOf(req), req.GetLivestreamSessionId())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.NotFound("livestream session", req.GetLivestreamSessionId())
	}
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", req.GetLivestreamSessionId(), err)
	}
	return &livegatev1.GetLivestreamSessionResponse{Success: true, Data: SessionToProto(sess)}, nil
}

// GetActiveLivestreamSession returns a livestream with its active session.
func (s *Server) GetActiveLivestreamSession(ctx context.Context, req *livegatev1.GetActiveLivestreamSessionRequest) (*livegatev1.GetActiveLivestreamSessionResponse, error) {
	t := store.TenantOf(req)
	var (
		l    store.Livestream
		sess store.Session
	)
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		if l, err = r.Livestream(ctx, t, req.GetLivestreamId()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apierror.NotFound("livestream", req.GetLivestreamId())
			}
			return err
		}
		sess, err = r.ActiveSession(ctx, t, l.ID)
		if errors.Is(err, store.ErrNotFound) {
			return apierror.New(apierror.ReasonNotFound, "livestream %q has no active session", l.ID).
				With("resource", "active-livestream-session").With("id", l.ID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get active session of livestream %s: %w", req.GetLivestreamId(), err)
	}
	return &livegatev1.GetActiveLivestreamSessionResponse{
		Success: true,
		Data:    &livegatev1.LivestreamWithSession{Livestream: s.toProto(l), Session: SessionToProto(sess)},
	}, nil
}

// GetLivestream returns a livestream, its latest session and a page of its sessions.
func (s *Server) GetLivestream(ctx context.Context, req *livegatev1.GetLivestreamRequest) (*livegatev1.GetLivestreamResponse, error) {
	t := store.TenantOf(req)
	offset, limit := page(req.GetPageNo(), req.GetPerPage())
	var (
		l        store.Livestream
		sessions []store.Session
		latest   *store.Session
		total    int
	)
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		if l, err = r.Livestream(ctx, t, req.GetLivestreamId()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apierror.NotFound("livestream", req.GetLivestreamId())
			}
			return err
		}
		if sessions, total, err = r.ListSessions(ctx, t, l.ID, offset, limit); err != nil {
			return err
		}
		switch sess, err := r.LatestSession(ctx, t, l.ID); {
		case err == nil:
			latest = &sess
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get livestream %s: %w", req.GetLivestreamId(), err)
	}
	data := &livegatev1.GetLivestreamData{
		Livestream: s.toProto(l),
		Paging:     paging(offset, len(sessions), total),
		Sessions:   make([]*livegatev1.LivestreamSession, 0, len(sessions)),
	}
	if latest != nil {
		data.Session = SessionToProto(*latest)
	}
	for _, sess := range sessions {
		data.Sessions = append(data.Sessions, SessionToProto(sess))
	}
	return &livegatev1.GetLivestreamResponse{Success: true, Data: data}, nil
}

// ResetStreamKey gives a livestream a new stream key.
func (s *Server) ResetStreamKey(ctx context.Context, req *livegatev1.ResetStreamKeyRequest) (*livegatev1.ResetStreamKeyResponse, error) {
	l, err := s.modify(ctx, store.TenantOf(req), req.GetLivestreamId(), func(l *store.Livestream) { l.StreamKey = NewStreamKey() })
	if err != nil {
		return nil, err
	}
	return &livegatev1.ResetStreamKeyResponse{Success: true, Data: s.toProto(l)}, nil
}

// EnableLivestream enables a livestream.
func (s *Server) EnableLivestream(ctx context.Context, req *livegatev1.EnableLivestreamRequest) (*livegatev1.EnableLivestreamResponse, error) {
	l, err := s.modify(ctx, store.TenantOf(req), req.GetLivestreamId(), func(l *store.Livestream) { l.Disabled = false })
	if err != nil {
		return nil, err
	}
	return &livegatev1.EnableLivestreamResponse{Success: true, Data: s.toProto(l)}, nil
}

// DisableLivestream disables a livestream.
func (s *Server) DisableLivestream(ctx context.Context, req *livegatev1.DisableLivestreamRequest) (*livegatev1.DisableLivestreamResponse, error) {
	l, err := s.modify(ctx, store.TenantOf(req), req.GetLivestreamId(), func(l *store.Livestream) { l.Disabled = true })
	if err != nil {
		return nil, err
	}
	return &livegatev1.DisableLivestreamResponse{Success: true, Data: s.toProto(l)}, nil
}

// modify reads a livestream, changes it with fn and writes it back, in one transaction.
func (s *Server) modify(ctx context.Context, t store.Tenant, id string, fn func(*store.Livestream)) (store.Livestream, error) {
	var l store.Livestream
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if l, err = w.Livestream(ctx, t, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apierror.NotFound("livestream", id)
			}
			return err
		}
		fn(&l)
		l.UpdatedAt = s.now().UTC()
		return w.UpdateLivestream(ctx, l)
	})
	if err != nil {
		return store.Livestream{}, fmt.Errorf("update livestream %s: %w", id, err)
	}
	return l, nil
}

// DeleteLivestream deletes a livestream and its sessions: an inactive one, or an Amity one in
// any status. livegate only mirrors an Amity stream, and has no other way to end one whose
// didStop never came (no meeting to stop, no publisher to lose); an Amity event about the
// stream later creates it anew.
func (s *Server) DeleteLivestream(ctx context.Context, req *livegatev1.DeleteLivestreamRequest) (*livegatev1.DeleteLivestreamResponse, error) {
	t := store.TenantOf(req)
	err := s.store.Update(ctx, func(w store.Writer) error {
		l, err := w.Livestream(ctx, t, req.GetLivestreamId())
		if errors.Is(err, store.ErrNotFound) {
			return apierror.NotFound("livestream", req.GetLivestreamId())
		}
		if err != nil {
			return err
		}
		if l.Status.Active() && l.Provider != payload.SourceAmity {
			return apierror.New(apierror.ReasonLivestreamActive, "livestream %q is %s; stop it before deleting it", l.ID, l.Status).
				With("livestream_id", l.ID)
		}
		if l.Status.Active() {
			// Its run ends here: the feed (and webhooks) hear of it going IDLE, with why.
			now := s.now().UTC()
			if _, err := projection.Stop(ctx, w, &l, now, -1, "deleted through the API", projection.APICall("api.DeleteLivestream"), now); err != nil {
				return err
			}
		}
		return w.DeleteLivestream(ctx, t, l.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("delete livestream %s: %w", req.GetLivestreamId(), err)
	}
	return &livegatev1.DeleteLivestreamResponse{
		Success: true,
		Data:    &livegatev1.MessageData{Message: fmt.Sprintf("livestream %s deleted", req.GetLivestreamId())},
	}, nil
}

// page turns a 1-based page number and a page size (0 = defaults) into an offset and limit.
func page(pageNo, perPage int32) (offset, limit int) {
	limit = int(perPage)
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	p := max(int(pageNo), 1)
	return (p - 1) * limit, limit
}

// paging says where a page sits. The offsets are int32 in the API: page_no is bounded in the
// proto so that they fit, and they are clamped here all the same rather than wrapped.
func paging(offset, n, total int) *livegatev1.Paging {
	return &livegatev1.Paging{
		StartOffset: clampInt32(offset),
		EndOffset:   clampInt32(offset + n - 1),
		TotalCount:  clampInt32(total),
	}
}

func clampInt32(v int) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

func (s *Server) toProto(l store.Livestream) *livegatev1.Livestream {
	return ToProto(l, s.urls)
}

// ToProto converts a stored livestream to its API message. A livestream a provider ingests
// (a meeting's, driven by 100ms; an Amity stream) has no ingest_server or stream_key
// (livegate's RTMP ingest refuses to publish it), and plays where its provider said
// (store.Livestream.PlaybackURL: empty until a run's start says), not at livegate's
// playback URL, where nothing would play.
func ToProto(l store.Livestream, urls URLs) *livegatev1.Livestream {
	out := &livegatev1.Livestream{
		Id:           l.ID,
		Name:         l.Name,
		IngestServer: urls.IngestBase,
		StreamKey:    l.StreamKey,
		PlaybackUrl:  urls.PlaybackURL(l.ID),
		Status:       projection.StatusToProto(l.Status),
		Disabled:     l.Disabled,
		CreatedAt:    timestamppb.New(l.CreatedAt),
		UpdatedAt:    timestamppb.New(l.UpdatedAt),
		AccountId:    l.AccountID,
		AppId:        l.AppID,
		Provider:     l.Provider,
		ProviderId:   l.ProviderID,
	}
	if l.MeetingID != "" {
		out.MeetingId = &l.MeetingID
	}
	if l.Provider != payload.SourceRTMP {
		out.IngestServer, out.StreamKey, out.PlaybackUrl = "", "", l.PlaybackURL
	}
	return out
}

// SessionToProto converts a stored session to its API message.
func SessionToProto(s store.Session) *livegatev1.LivestreamSession {
	return &livegatev1.LivestreamSession{
		Id:            s.ID,
		LivestreamId:  s.LivestreamID,
		InvokedTime:   optionalTime(s.InvokedAt),
		StartedTime:   optionalTime(s.StartedAt),
		StoppedTime:   optionalTime(s.StoppedAt),
		IngestSeconds: s.IngestSeconds,
		ViewerSeconds: s.ViewerSeconds,
		ErrMessage:    s.ErrMessage,
		CreatedAt:     timestamppb.New(s.CreatedAt),
		UpdatedAt:     timestamppb.New(s.UpdatedAt),
	}
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
