package webhook

import (
	"sync"

	"github.com/livegate/livegate/internal/store"
)

// The apps (webhook secrets) deliveries are checked against are cached, so that a delivery
// needs no read transaction before its commit: reading the app anew in a transaction of its
// own was about 13 % of the server's CPU at 64 senders.
//
// A cached app is trusted only as far as it can be checked:
//
//   - A delivery whose secret (or signature) the cached app accepts goes on to its commit,
//     and the commit checks, inside the delivery's own write transaction, that the store's
//     AppsVersion is still the one the app was cached under. Every change to apps, by any
//     process (this one's admin API, `livegate apps` on the same SQLite file, another
//     node of a PostgreSQL installation), changes it (a trigger on the apps table). If it
//     changed, the commit reads the app in that transaction and checks the delivery against
//     it: a secret rotated away or an app deleted is refused (401) exactly as when the app
//     was read anew for every delivery, and nothing of the delivery is stored.
//   - A delivery the cached app refuses is checked against the app read anew (then cached):
//     a secret given out by a rotation the cache has not seen is accepted at once.
//   - An unknown tenant is not cached: its deliveries read the store every time, as before.
//
// So the cache changes what each delivery costs, not what it is answered.

// maxCachedApps bounds the cache; past it, an arbitrary entry makes room.
const maxCachedApps = 10_000

type cachedApp struct {
	app store.App
	// version is the store's AppsVersion read before app, in the same transaction.
	version uint64
}

type appCache struct {
	mu   sync.RWMutex
	apps map[store.Tenant]cachedApp
}

func newAppCache() *appCache { return &appCache{apps: make(map[store.Tenant]cachedApp)} }

func (c *appCache) get(t store.Tenant) (cachedApp, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.apps[t]
	return e, ok
}

// put caches e for t, unless a newer version of the app is cached already.
func (c *appCache) put(t store.Tenant, e cachedApp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.apps[t]; ok && old.version > e.version {
		return
	}
	if _, ok := c.apps[t]; !ok && len(c.apps) >= maxCachedApps {
		for k := range c.apps {
			delete(c.apps, k)
			break
		}
	}
	c.apps[t] = e
}

// drop forgets t's app.
func (c *appCache) drop(t store.Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.apps, t)
}
