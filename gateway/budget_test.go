package gateway

import (
	"errors"
	"testing"
)

func TestBodyBudget(t *testing.T) {
	b := newBodyBudget(10, 6)
	take := func(key string, n int64, want error) {
		t.Helper()
		if err := b.take(key, n); !errors.Is(err, want) {
			t.Fatalf("take(%q, %d): %v, want %v", key, n, err, want)
		}
	}
	take("a", 6, nil)
	take("a", 1, errClientBodyBudget) // a's share is full
	take("b", 4, nil)
	take("c", 1, errBodyBudget) // the whole budget is full
	b.release("a", 6)
	if _, ok := b.client["a"]; ok {
		t.Errorf("a client that holds nothing keeps an entry: %v", b.client)
	}
	take("c", 5, nil)
	take("b", 3, errClientBodyBudget)
	take("b", 2, errBodyBudget)
	take("a", 1, nil)
	b.release("a", 1)
	b.release("b", 4)
	b.release("c", 5)
	if b.held != 0 || len(b.client) != 0 {
		t.Errorf("all released: held %d, clients %v", b.held, b.client)
	}

	if newBodyBudget(-1, -1) != nil {
		t.Error("a budget bounding nothing is not nil")
	}
	open := newBodyBudget(-1, 4)
	if err := open.take("a", 1<<40); !errors.Is(err, errClientBodyBudget) {
		t.Errorf("no total, a client share of 4: %v", err)
	}
	if err := open.take("b", 4); err != nil {
		t.Errorf("no total, a client share of 4: %v", err)
	}
	def := newBodyBudget(0, 0)
	if def.total != DefaultMaxBodyBytesInFlight || def.perClient != DefaultMaxBodyBytesInFlightPerClient {
		t.Errorf("defaults: %d, %d", def.total, def.perClient)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":                "127.0.0.1",
		"2001:db8:1:2:3:4:5:6":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
		"@":                        "@",
		"not an address, as given": "not an address, as given",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
