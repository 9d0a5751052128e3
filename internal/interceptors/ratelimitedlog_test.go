package interceptors

import (
	"testing"
	"time"
)

// TestRateLimitedLog: one line per key per period, with the count of the lines held back.
func TestRateLimitedLog(t *testing.T) {
	now := time.Unix(0, 0)
	r := newRateLimitedLog(10 * time.Second)
	r.now = func() time.Time { return now }
	step := func(d time.Duration, key string, wantOK bool, wantSuppressed int) {
		t.Helper()
		now = now.Add(d)
		if ok, n := r.allow(key); ok != wantOK || n != wantSuppressed {
			t.Errorf("at %v, %s: allow = %v, %d; want %v, %d", now.Unix(), key, ok, n, wantOK, wantSuppressed)
		}
	}
	step(0, "full", true, 0)
	step(time.Second, "full", false, 0)
	step(time.Second, "read_only", true, 0) // another kind has its own budget
	step(time.Second, "full", false, 0)
	step(7*time.Second, "full", true, 2)
	step(10*time.Second, "full", true, 0)
}
