// Package amity decodes and authenticates Amity video-streaming webhook
// deliveries.
//
// Amity Social Cloud (social.plus) posts one JSON delivery per event, signed
// with the x-amity-signature header (see [Verify]). [Decode] turns the body
// into a [amityv1.Webhook]; [Split] turns a delivery that concerns several
// streams into one [amityv1.VideoStreamingEvent] per stream, which is what
// livegate stores. The five real-time event types ([Types]) share one payload
// shape.
package amity

import (
	"slices"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	"google.golang.org/protobuf/proto"
)

// The video-streaming event types Amity sends (the delivery's "event").
const (
	EventDidStart     = "video-streaming.didStart"
	EventDidStop      = "video-streaming.didStop"
	EventDidRecord    = "video-streaming.didRecord"
	EventDidFlag      = "video-streaming.didFlag"
	EventDidTerminate = "video-streaming.didTerminate"
)

// types is the known event types, sorted.
var types = []string{
	EventDidFlag,
	EventDidRecord,
	EventDidStart,
	EventDidStop,
	EventDidTerminate,
}

// Types returns the five known video-streaming event types, sorted. The
// caller owns the returned slice.
func Types() []string {
	return slices.Clone(types)
}

// Known reports whether eventType is one of the known video-streaming event
// types ([Types]). Decode does not check this: the caller decides what to do
// with an event type it does not know.
func Known(eventType string) bool {
	_, found := slices.BinarySearch(types, eventType)
	return found
}

// Split returns one event per stream of the delivery w, in the order of
// w.data.videoStreamings. Each event carries the delivery's event type and a
// copy of its users and files. The events share no memory with w or with each
// other. A nil delivery, or one without streams, gives no events.
func Split(w *amityv1.Webhook) []*amityv1.VideoStreamingEvent {
	streams := w.GetData().GetVideoStreamings()
	if len(streams) == 0 {
		return nil
	}
	users := w.GetData().GetUsers()
	files := w.GetData().GetFiles()
	events := make([]*amityv1.VideoStreamingEvent, 0, len(streams))
	for _, vs := range streams {
		events = append(events, &amityv1.VideoStreamingEvent{
			Event:          w.GetEvent(),
			VideoStreaming: proto.CloneOf(vs),
			Users:          cloneAll(users),
			Files:          cloneAll(files),
		})
	}
	return events
}

// cloneAll deep-copies a slice of messages; nil stays nil.
func cloneAll[M proto.Message](ms []M) []M {
	if ms == nil {
		return nil
	}
	out := make([]M, len(ms))
	for i, m := range ms {
		out[i] = proto.CloneOf(m)
	}
	return out
}
