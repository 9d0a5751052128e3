package gateway

import (
	"net/netip"
	"sync"

	"github.com/livegate/livegate/internal/accesslog"
)

// DefaultMaxBodyBytesInFlight is Options.MaxBodyBytesInFlight when none is given: 64 bodies
// of the largest size, far more small ones.
const DefaultMaxBodyBytesInFlight = 64 * MaxBodyBytes

// DefaultMaxBodyBytesInFlightPerClient is Options.MaxBodyBytesInFlightPerClient when none is
// given: an eighth of the default budget, so that one client (one address) holding all it
// may still leaves seven eighths to everyone else, and filling the whole budget takes eight
// clients. It is 8 bodies of the largest size, some thousands of real deliveries.
const DefaultMaxBodyBytesInFlightPerClient = DefaultMaxBodyBytesInFlight / 8

// bodyBudget bounds the request body bytes received and not yet answered: all requests
// together (total), and the requests of one client (perClient), a client being the address
// the access log names (the connection's peer, or the X-Forwarded-For client of a trusted
// proxy; IPv6 addresses by their /64, which one host is commonly given whole). A nil
// *bodyBudget bounds nothing.
type bodyBudget struct {
	total, perClient int64 // <= 0: no bound

	mu     sync.Mutex
	held   int64
	client map[string]int64 // bytes held per client key; no entry holds nothing
}

// newBodyBudget is the budget of total bytes, perClient bytes to a client: 0 takes the
// default, a negative value bounds nothing. Nil when neither bounds anything.
func newBodyBudget(total, perClient int64) *bodyBudget {
	if total == 0 {
		total = DefaultMaxBodyBytesInFlight
	}
	if perClient == 0 {
		perClient = DefaultMaxBodyBytesInFlightPerClient
	}
	if total < 0 && perClient < 0 {
		return nil
	}
	return &bodyBudget{total: total, perClient: perClient, client: make(map[string]int64)}
}

// clientKey is the budget's key for a client address as the access log gives it: the
// address, or for IPv6 its accesslog.ClientPrefix.
func clientKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil || !a.Is6() {
		return client
	}
	return accesslog.ClientPrefix(a).String()
}

// take holds n more bytes for key's client, or holds nothing and says which bound has no
// room (errClientBodyBudget or errBodyBudget).
func (b *bodyBudget) take(key string, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perClient > 0 && b.client[key]+n > b.perClient {
		return errClientBodyBudget
	}
	if b.total > 0 && b.held+n > b.total {
		return errBodyBudget
	}
	b.held += n
	b.client[key] += n
	return nil
}

// release gives back n bytes key's client held.
func (b *bodyBudget) release(key string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
	if left := b.client[key] - n; left > 0 {
		b.client[key] = left
	} else {
		delete(b.client, key)
	}
}
