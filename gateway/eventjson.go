package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// Bounds of the rendered-event cache: the events most recently rendered, at most this many
// and this many bytes of JSON. A live event reaches every subscriber within moments, so the
// cache needs to span only the events in flight; a subscriber far behind (a replay) renders
// what is no longer held, as before.
const (
	eventJSONEntries = 4096
	eventJSONBytes   = 16 << 20
)

// eventJSON renders events as the REST face's JSON once for all of the gateway's streaming
// subscribers (NDJSON and SSE): each is a gRPC client of the server and receives the event
// itself, but the JSON of an event is the same for all, so the first to need it renders it
// and the others take it from here. An event is known by its tenant and sequence (a
// sequence is never reused); the entries are dropped oldest first. Safe for concurrent use;
// the zero of *eventJSON (nil) renders every time.
type eventJSON struct {
	mu       sync.Mutex
	m        map[eventKey]*renderedEvent
	fifo     []eventKey // a ring of the keys in m, oldest at fifo[head]
	head     int
	n        int // entries in the ring
	bytes    int // JSON held by counted entries
	maxBytes int
}

type eventKey struct {
	account, app string
	sequence     uint64
}

// renderedEvent is an event's JSON, and its NDJSON line.
type renderedEvent struct {
	once    sync.Once
	json    []byte // the Event, on one line (SSE data)
	line    []byte // {"result":{"event":...}} as grpc-gateway writes it (NDJSON)
	err     error
	counted bool // its bytes are in eventJSON.bytes (guarded by eventJSON.mu)
}

func (e *renderedEvent) size() int { return len(e.json) + len(e.line) }

func newEventJSON(entries, maxBytes int) *eventJSON {
	return &eventJSON{m: make(map[eventKey]*renderedEvent, entries), fifo: make([]eventKey, entries), maxBytes: maxBytes}
}

// render renders an event as the REST face writes it (Marshaler): the Event on one line,
// and the NDJSON line grpc-gateway writes for a streamed message: JSONPb marshals
// {"result": message} with encoding/json around the message's JSON, which compacts it and
// escapes <, >, & (and U+2028, U+2029) as \u003c and so on.
func (e *renderedEvent) render(ev *livegatev1.Event) {
	data, err := Marshaler.Marshal(ev)
	if err != nil {
		e.err = fmt.Errorf("encode event %d: %w", ev.GetSequence(), err)
		return
	}
	var b bytes.Buffer
	b.Grow(len(data))
	if err := json.Compact(&b, data); err != nil {
		e.err = fmt.Errorf("encode event %d: %w", ev.GetSequence(), err)
		return
	}
	e.json = b.Bytes()
	const pre, post = `{"result":{"event":`, `}}`
	var line bytes.Buffer
	line.Grow(len(pre) + len(e.json) + len(post))
	line.WriteString(pre)
	json.HTMLEscape(&line, e.json)
	line.WriteString(post)
	e.line = line.Bytes()
}

// get returns the event rendered, once for every caller. The bytes are shared: the caller
// must not change them.
func (c *eventJSON) get(ev *livegatev1.Event) (*renderedEvent, error) {
	if c == nil {
		e := &renderedEvent{}
		e.render(ev)
		return e, e.err
	}
	k := eventKey{ev.GetAccountId(), ev.GetAppId(), ev.GetSequence()}
	c.mu.Lock()
	e := c.m[k]
	if e == nil {
		e = &renderedEvent{}
		if c.n == len(c.fifo) {
			c.evictOldest()
		}
		c.m[k] = e
		c.fifo[(c.head+c.n)%len(c.fifo)] = k
		c.n++
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.render(ev)
		c.mu.Lock()
		if c.m[k] == e { // not evicted meanwhile
			e.counted = true
			c.bytes += e.size()
			for c.bytes > c.maxBytes && c.n > 1 {
				c.evictOldest()
			}
		}
		c.mu.Unlock()
	})
	return e, e.err
}

// evictOldest drops the oldest entry (c.n > 0); c.mu is held.
func (c *eventJSON) evictOldest() {
	k := c.fifo[c.head]
	c.fifo[c.head] = eventKey{}
	c.head = (c.head + 1) % len(c.fifo)
	c.n--
	if e := c.m[k]; e != nil {
		if e.counted {
			c.bytes -= e.size()
		}
		delete(c.m, k)
	}
}

// len is how many entries are held, and their bytes.
func (c *eventJSON) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.bytes
}
