package outbound

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Schedule is when a failed delivery is tried again: after Steps[0] the first time,
// Steps[1] the second, and so on, the last step repeating, until For has passed since the
// first attempt; then the event is given up. Each wait is jittered by up to ±Jitter of
// itself, so endpoints that failed together do not retry together.
type Schedule struct {
	Steps  []time.Duration
	For    time.Duration
	Jitter float64
}

// DefaultSchedule: 5 s, 30 s, 2 min, 10 min, 1 h, then hourly until 24 h after the first
// attempt, ±10 %.
func DefaultSchedule() Schedule {
	return Schedule{
		Steps:  []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour},
		For:    24 * time.Hour,
		Jitter: 0.1,
	}
}

// DefaultScheduleFlag is DefaultSchedule's steps as --webhooks-retry-schedule takes them.
const DefaultScheduleFlag = "5s,30s,2m,10m,1h"

// ParseSteps reads a comma-separated list of positive durations ("5s,30s,2m,10m,1h").
func ParseSteps(s string) ([]time.Duration, error) {
	var steps []time.Duration
	for f := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 30s", f)
		}
		steps = append(steps, d)
	}
	return steps, nil
}

// step is the wait after the attempt-th attempt (from 1), before jitter.
func (s Schedule) step(attempt int) time.Duration {
	if len(s.Steps) == 0 {
		return DefaultSchedule().step(attempt)
	}
	return s.Steps[min(max(attempt, 1), len(s.Steps))-1]
}

// Next is when to try again after the attempt-th attempt (from 1) failed at `at`, the event
// having first been tried at first; ok is false when that would be past the budget (For
// after first): the event is given up. retryAfter (from the endpoint's Retry-After; zero:
// none) replaces the step when it is longer, but never goes past the step after it.
func (s Schedule) Next(first, at time.Time, attempt int, retryAfter time.Duration) (time.Time, bool) {
	wait := s.step(attempt)
	if j := s.Jitter; j > 0 {
		wait += time.Duration((rand.Float64()*2 - 1) * j * float64(wait))
	}
	if retryAfter > wait {
		wait = min(retryAfter, s.step(attempt+1))
	}
	next := at.Add(wait)
	budget := s.For
	if budget <= 0 {
		budget = DefaultSchedule().For
	}
	if next.Sub(first) > budget {
		return time.Time{}, false
	}
	return next, true
}
