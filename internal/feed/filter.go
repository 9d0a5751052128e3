package feed

import (
	"slices"
	"strings"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/store"
)

// Filter selects events: every set criterion must match; within Types and Sources any value
// may; a type ending in '.' matches as a prefix. The zero Filter matches everything. The
// store applies the same filter to stored events.
type Filter = store.EventFilter

// Match reports whether ev passes the filter.
func Match(f Filter, ev *livegatev1.Event) bool {
	if f.LivestreamID != "" && ev.GetLivestreamId() != f.LivestreamID {
		return false
	}
	if f.RoomID != "" && ev.GetRoomId() != f.RoomID {
		return false
	}
	if len(f.Sources) > 0 && !slices.Contains(f.Sources, ev.GetSource()) {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if TypeMatches(t, ev.GetType()) {
			return true
		}
	}
	return false
}

// TypeMatches reports whether an event type matches a filter type: equal, or the filter ends
// in '.' and is a prefix of it.
func TypeMatches(filter, eventType string) bool {
	if strings.HasSuffix(filter, ".") {
		return strings.HasPrefix(eventType, filter)
	}
	return filter == eventType
}
