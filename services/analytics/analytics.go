// Package analytics implements livegate.v1.AnalyticsService: RealtimeKit's livestream
// analytics, computed from stored sessions and recordings.
package analytics

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

const (
	dateLayout = "2006-01-02"
	// DefaultDays is the span of daywise analytics when start_date is not given.
	DefaultDays = 30
	// MaxDays is the longest span daywise analytics accepts.
	MaxDays = 366
)

// Server implements AnalyticsService.
type Server struct {
	livegatev1.UnsafeAnalyticsServiceServer

	store store.Store
	now   func() time.Time
}

// NewServer returns an AnalyticsService over st.
func NewServer(st store.Store) *Server { return &Server{store: st, now: time.Now} }

var _ livegatev1.AnalyticsServiceServer = (*Server)(nil)

// GetLivestreamAnalytics sums the tenant's sessions that began in [start_time, end_time).
func (s *Server) GetLivestreamAnalytics(ctx context.Context, req *livegatev1.GetLivestreamAnalyticsRequest) (*livegatev1.GetLivestreamAnalyticsResponse, error) {
	if err := checkFilters(req.GetFilters()); err != nil {
		return nil, err
	}
	var from, to time.Time
	if req.StartTime != nil {
		from = req.GetStartTime().AsTime()
	}
	if req.EndTime != nil {
		to = store.Until(req.GetEndTime().AsTime())
	}
	var totals store.Totals
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		totals, err = r.SessionTotals(ctx, store.TenantOf(req), from, to)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("livestream analytics: %w", err)
	}
	return &livegatev1.GetLivestreamAnalyticsResponse{
		Success: true,
		Data: &livegatev1.LivestreamAnalytics{
			Count:              int32(totals.Livestreams),
			TotalIngestSeconds: math.Round(totals.IngestSeconds),
			TotalViewerSeconds: math.Round(totals.ViewerSeconds),
		},
	}, nil
}

// GetLivestreamDaywiseAnalytics reports the tenant's livestream sessions that began in
// [start_time, end_time) per UTC day: one entry per day from start_time's to end_time's
// (zeros included), oldest first. end_time defaults to now, start_time to the start of the
// UTC day DefaultDays-1 days before the range's last day (DefaultDays days in all); the range
// spans at most MaxDays days.
func (s *Server) GetLivestreamDaywiseAnalytics(ctx context.Context, req *livegatev1.GetLivestreamDaywiseAnalyticsRequest) (*livegatev1.GetLivestreamDaywiseAnalyticsResponse, error) {
	if err := checkFilters(req.GetFilters()); err != nil {
		return nil, err
	}
	to := s.now().UTC()
	if req.EndTime != nil {
		to = req.GetEndTime().AsTime()
	}
	// The last day is the one holding the range's last instant (end_time is exclusive).
	lastDay := to.Add(-time.Nanosecond).Truncate(24 * time.Hour)
	from := notBeforeFirstDate(lastDay.AddDate(0, 0, -(DefaultDays - 1)))
	if req.StartTime != nil {
		from = req.GetStartTime().AsTime()
	}
	if !to.After(from) {
		if req.EndTime == nil {
			// end_time is now, not given: the caller's start_time is in the future.
			return nil, apierror.InvalidArgument("start_time", "must be before end_time, which defaults to now")
		}
		return nil, apierror.InvalidArgument("end_time", "must be after start_time")
	}
	firstDay := from.Truncate(24 * time.Hour)
	if lastDay.Sub(firstDay) >= MaxDays*24*time.Hour {
		return nil, apierror.InvalidArgument("start_time", fmt.Sprintf("range must span at most %d days", MaxDays))
	}
	var days []store.LivestreamDay
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		days, err = r.LivestreamDays(ctx, store.TenantOf(req), from, to)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("livestream daywise analytics: %w", err)
	}
	byDay := make(map[string]store.LivestreamDay, len(days))
	for _, d := range days {
		byDay[d.Day] = d
	}
	resp := &livegatev1.GetLivestreamDaywiseAnalyticsResponse{Success: true}
	for day := firstDay; !day.After(lastDay); day = day.AddDate(0, 0, 1) {
		key := day.Format(dateLayout)
		d := byDay[key]
		resp.Data = append(resp.Data, &livegatev1.LivestreamDayAnalytics{
			Date:  key,
			Count: int32(d.Sessions),
			// Whole seconds: RealtimeKit's SDKs model these as integers.
			TotalIngestSeconds: math.Round(d.IngestSeconds),
			TotalViewerSeconds: math.Round(d.ViewerSeconds),
		})
	}
	return resp, nil
}

// checkFilters refuses analytics filters: livegate supports none (RealtimeKit documents the
// parameter, not its syntax), and counting everything while the caller asked for less would
// answer wrong figures silently.
func checkFilters(filters string) error {
	if strings.TrimSpace(filters) == "" {
		return nil
	}
	return apierror.InvalidArgument("filters", fmt.Sprintf("livegate supports no analytics filters (got %q); omit filters, and narrow the range with start_time and end_time", filters))
}

// GetDaywiseAnalytics reports sessions and recordings per UTC day, one entry per day of the
// range (zeros included), oldest first.
func (s *Server) GetDaywiseAnalytics(ctx context.Context, req *livegatev1.GetDaywiseAnalyticsRequest) (*livegatev1.GetDaywiseAnalyticsResponse, error) {
	start, end, err := s.dateRange(req.GetStartDate(), req.GetEndDate())
	if err != nil {
		return nil, err
	}
	t := store.TenantOf(req)
	from, to := start, end.AddDate(0, 0, 1)
	var sessions, recordings []store.DayStat
	err = s.store.View(ctx, func(r store.Reader) error {
		var err error
		if sessions, err = r.SessionDays(ctx, t, from, to); err != nil {
			return err
		}
		recordings, err = r.RecordingDays(ctx, t, from, to)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daywise analytics: %w", err)
	}

	sessionStats := &livegatev1.SessionStats{}
	recordingStats := &livegatev1.RecordingStats{}
	byDaySessions, byDayRecordings := index(sessions), index(recordings)
	for day := start; !day.After(end); day = day.AddDate(0, 0, 1) {
		key := day.Format(dateLayout)
		ss, rs := byDaySessions[key], byDayRecordings[key]
		sessionStats.DayStats = append(sessionStats.DayStats, &livegatev1.SessionDayStat{
			Day: key, TotalSessions: int32(ss.Count), TotalSessionMinutes: ss.Minutes,
		})
		sessionStats.SessionsCount += int32(ss.Count)
		sessionStats.SessionsMinutesConsumed += ss.Minutes
		recordingStats.DayStats = append(recordingStats.DayStats, &livegatev1.RecordingDayStat{
			Day: key, TotalRecordings: int32(rs.Count), TotalRecordingMinutes: rs.Minutes,
		})
		recordingStats.RecordingCount += int32(rs.Count)
		recordingStats.RecordingMinutesConsumed += rs.Minutes
	}
	return &livegatev1.GetDaywiseAnalyticsResponse{
		Success: true,
		Data:    &livegatev1.DaywiseAnalytics{SessionStats: sessionStats, RecordingStats: recordingStats},
	}, nil
}

// firstDate is the first day a date names: a default start before it was labelled
// 0000-12-03.
var firstDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// notBeforeFirstDate is t, or firstDate if t is before it (a default start).
func notBeforeFirstDate(t time.Time) time.Time {
	if t.Before(firstDate) {
		return firstDate
	}
	return t
}

// dateRange parses and defaults the request's dates: end defaults to today (UTC), start to
// DefaultDays days ending at end, but not before 0001-01-01 (the first day a date names: a
// default start before it was labelled 0000-12-03).
func (s *Server) dateRange(startDate, endDate string) (start, end time.Time, err error) {
	end = s.now().UTC().Truncate(24 * time.Hour)
	if endDate != "" {
		if end, err = time.Parse(dateLayout, endDate); err != nil {
			return start, end, apierror.InvalidArgument("end_date", "must be a date as YYYY-MM-DD")
		}
	}
	if end.Before(firstDate) {
		return start, end, apierror.InvalidArgument("end_date", "must be a date from 0001-01-01")
	}
	start = notBeforeFirstDate(end.AddDate(0, 0, -(DefaultDays - 1)))
	if startDate != "" {
		if start, err = time.Parse(dateLayout, startDate); err != nil {
			return start, end, apierror.InvalidArgument("start_date", "must be a date as YYYY-MM-DD")
		}
		if start.Before(firstDate) {
			return start, end, apierror.InvalidArgument("start_date", "must be a date from 0001-01-01")
		}
	}
	if start.After(end) {
		if endDate == "" {
			return start, end, apierror.InvalidArgument("start_date", "must not be after end_date, which defaults to today ("+end.Format(dateLayout)+")")
		}
		return start, end, apierror.InvalidArgument("start_date", "must not be after end_date")
	}
	if end.Sub(start) >= MaxDays*24*time.Hour {
		return start, end, apierror.InvalidArgument("start_date", fmt.Sprintf("range must span at most %d days", MaxDays))
	}
	return start, end, nil
}

func index(stats []store.DayStat) map[string]store.DayStat {
	m := make(map[string]store.DayStat, len(stats))
	for _, s := range stats {
		m[s.Day] = s
	}
	return m
}
