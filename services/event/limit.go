package event

import (
	"strconv"
	"sync"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

// retryAfterSeconds is what a refused subscription is told to wait.
const retryAfterSeconds = 5

// limiter counts live subscriptions per app and in all.
type limiter struct {
	perApp, total int // negative: no bound

	mu    sync.Mutex
	apps  map[store.Tenant]int
	count int
}

func newLimiter(perApp, total int) *limiter {
	return &limiter{perApp: perApp, total: total, apps: map[store.Tenant]int{}}
}

// acquire counts a subscription of t, or refuses it with TOO_MANY_REQUESTS. release gives
// it back.
func (l *limiter) acquire(t store.Tenant) (release func(), _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perApp >= 0 && l.apps[t] >= l.perApp {
		return nil, tooMany("the app has reached its limit of %d live subscriptions", l.perApp, "app")
	}
	if l.total >= 0 && l.count >= l.total {
		return nil, tooMany("the server has reached its limit of %d live subscriptions", l.total, "server")
	}
	l.count++
	l.apps[t]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.count--
			if l.apps[t]--; l.apps[t] <= 0 {
				delete(l.apps, t)
			}
		})
	}, nil
}

func tooMany(format string, limit int, scope string) error {
	return apierror.New(apierror.ReasonTooManyRequests, format+"; close one, or retry in %d seconds", limit, retryAfterSeconds).
		With(apierror.RetryAfterKey, strconv.Itoa(retryAfterSeconds)).
		With("limit", strconv.Itoa(limit)).
		With("scope", scope)
}
