// Package webhookevents is the event filter of an outbound webhook endpoint: the `events`
// list an app registers. An entry is either
//
//   - a livegate event type (`livestream.status_changed`, `peer.join.success`,
//     `video-streaming.didStop`) or a type prefix ending in '.' (`hls.`), with the rules of
//     Subscribe's type filter (internal/feed: equal, or a prefix; of any source), or
//   - a RealtimeKit webhook event name (the SDKs' enum), for the events livegate can send in
//     RealtimeKit's terms: each maps to the livegate events it stands for (Names), and the
//     deliverer sends those in RealtimeKit's payload shape.
//
// RealtimeKit names livegate has no source for (chat, transcripts, summaries) are refused.
// An event is sent once, in one shape: when a RealtimeKit name and a livegate type or prefix
// both select it (`recording.statusUpdate` and `hls.` both select hls.recording.success),
// the RealtimeKit name wins and it is sent in RealtimeKit's shape.
package webhookevents

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
)

// Limits of an events list.
const (
	// MaxEntries is how many entries a list may have.
	MaxEntries = 64
	// MaxEntryBytes is how long an entry may be (Subscribe's type filter allows the same).
	MaxEntryBytes = 128
)

// Field is the request field the errors name.
const Field = "events"

// Source is a livegate event source and type: what a RealtimeKit name stands for.
type Source struct {
	Source string // "hms", "amity", "livegate"
	Type   string
}

// Names maps each RealtimeKit event name livegate can send to the livegate events it stands
// for.
//
//   - meeting.started / meeting.ended: a 100ms room session opens / closes.
//   - meeting.participantJoined / meeting.participantLeft: a 100ms peer joins / leaves.
//   - recording.statusUpdate: every recording event livegate receives: 100ms's recording
//     started, finished and failed (composite, beam, HLS, stream and track recordings) and
//     Amity's video-streaming.didRecord.
//   - livestreaming.statusUpdate: livegate's own livestream.status_changed (every
//     livestream's status, whatever its provider).
var Names = map[string][]Source{
	"meeting.started":           {{"hms", "session.open.success"}},
	"meeting.ended":             {{"hms", "session.close.success"}},
	"meeting.participantJoined": {{"hms", "peer.join.success"}},
	"meeting.participantLeft":   {{"hms", "peer.leave.success"}},
	"recording.statusUpdate": {
		{"hms", "recording.success"},
		{"hms", "recording.failed"},
		{"hms", "beam.recording.success"},
		{"hms", "hls.recording.success"},
		{"hms", "stream.recording.success"},
		{"hms", "stream.recording.failure"},
		{"hms", "track.recording.started.success"},
		{"hms", "track.recording.success"},
		{"hms", "track.recording.failure"},
		{"amity", "video-streaming.didRecord"},
	},
	"livestreaming.statusUpdate": {{"livegate", payload.TypeStatusChanged}},
}

// Unsupported are RealtimeKit's event names livegate cannot send, and why.
var Unsupported = map[string]string{
	"meeting.chatSynced": "livegate has no chat source",
	"meeting.transcript": "livegate has no transcript source",
	"meeting.summary":    "livegate has no meeting summary source",
}

// Filter is a parsed events list.
type Filter struct {
	// types are the livegate types and prefixes, in the list's order.
	types []string
	// storeTypes are types plus the types the RealtimeKit names stand for: what StoreFilter
	// reads the feed with.
	storeTypes []string
	// byEvent maps a (source, type) to the RealtimeKit name that selects it.
	byEvent map[Source]string
}

// Parse checks an events list and returns its filter. Errors are INVALID_ARGUMENT naming
// the field `events` (and the entry: `events[2]`).
func Parse(events []string) (Filter, error) { return parse(events, true) }

// ParseStored is Parse for a list already stored, as the deliverer reads it: an entry that
// can match no event (malformed), which the API accepted before 693dd98, is kept as the exact
// type it never matched, rather than failing the list (which stopped the endpoint's other
// entries too).
func ParseStored(events []string) (Filter, error) { return parse(events, false) }

func parse(events []string, strict bool) (Filter, error) {
	if len(events) == 0 {
		return Filter{}, apierror.InvalidArgument(Field, "must list at least 1 event type, prefix or RealtimeKit event name")
	}
	if len(events) > MaxEntries {
		return Filter{}, apierror.InvalidArgument(Field, fmt.Sprintf("lists %d entries; at most %d are allowed", len(events), MaxEntries))
	}
	f := Filter{byEvent: map[Source]string{}}
	seen := make(map[string]int, len(events))
	var unsupported, names []string
	for i, e := range events {
		field := fmt.Sprintf("%s[%d]", Field, i)
		switch {
		case e == "":
			return Filter{}, apierror.InvalidArgument(field, "value length must be at least 1 characters")
		case len(e) > MaxEntryBytes:
			return Filter{}, apierror.InvalidArgument(field, fmt.Sprintf("value length must be at most %d bytes", MaxEntryBytes))
		}
		if why := malformed(e); why != "" && strict {
			return Filter{}, apierror.InvalidArgument(field, fmt.Sprintf("%q %s", e, why))
		}
		if j, dup := seen[e]; dup {
			return Filter{}, apierror.InvalidArgument(field, fmt.Sprintf("%q is listed twice (also %s[%d])", e, Field, j))
		}
		seen[e] = i
		if _, ok := Unsupported[e]; ok {
			unsupported = append(unsupported, e)
			continue
		}
		srcs, ok := Names[e]
		if !ok {
			f.types = append(f.types, e)
			continue
		}
		names = append(names, e)
		for _, s := range srcs {
			f.byEvent[s] = e
		}
	}
	if len(unsupported) > 0 {
		why := make([]string, len(unsupported))
		for i, n := range unsupported {
			why[i] = n + " (" + Unsupported[n] + ")"
		}
		return Filter{}, apierror.InvalidArgument(Field, "RealtimeKit events livegate cannot send: "+strings.Join(why, ", ")+
			"; livegate sends "+strings.Join(SupportedNames(), ", ")+" and its own event types").
			With("unsupported", strings.Join(unsupported, ","))
	}
	f.storeTypes = slices.Clone(f.types)
	for _, n := range names {
		for _, s := range Names[n] {
			if !slices.Contains(f.storeTypes, s.Type) {
				f.storeTypes = append(f.storeTypes, s.Type)
			}
		}
	}
	return f, nil
}

// malformed says why entry e can match no event, "" if it can: an entry that never matches
// would leave its endpoint silent without a word (the API audit registered "*", ".", "a..b").
// Types are names joined by '.' (hls.started.success, video-streaming.didStop); a prefix
// ends in '.'; names hold no space, control character or '*'.
func malformed(e string) string {
	if strings.Contains(e, "*") {
		return "is not an event type: there is no wildcard; a prefix ending in '.' (hls.) takes every type that begins with it"
	}
	if strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "is not an event type: types hold no spaces or control characters"
	}
	for i, part := range strings.Split(strings.TrimSuffix(e, "."), ".") {
		if part == "" {
			if i == 0 {
				return "is not an event type: it begins with '.'"
			}
			return "is not an event type: it has an empty name between two '.'"
		}
	}
	return ""
}

// SupportedNames are the RealtimeKit event names livegate sends, sorted.
func SupportedNames() []string {
	return slices.Sorted(maps.Keys(Names))
}

// Match reports whether the filter selects an event of this source and type, and, when a
// RealtimeKit name selected it, that name (the deliverer then sends RealtimeKit's payload
// for it; a RealtimeKit name wins over a livegate type or prefix that selects the event
// too); realtimeKitName is empty when only a livegate type or prefix selected it.
func (f Filter) Match(source, eventType string) (realtimeKitName string, ok bool) {
	if n, ok := f.byEvent[Source{source, eventType}]; ok {
		return n, true
	}
	for _, t := range f.types {
		if feed.TypeMatches(t, eventType) {
			return "", true
		}
	}
	return "", false
}

// StoreFilter is the filter to read the feed with (store.EventFilter: types and prefixes):
// it selects every event Match selects, and perhaps more (a RealtimeKit name's type from
// another source), so the deliverer still calls Match on what it reads. Worked out once, by
// Parse; callers must not change it.
func (f Filter) StoreFilter() store.EventFilter {
	return store.EventFilter{Types: f.storeTypes}
}
