package projection

import (
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// Correlate copies the correlation keys a 100ms payload carries (room_id, session_id,
// peer_id, beam_id, ingest_id, stream_id) onto the event envelope, where the envelope has
// none. Amity's streamId is set by the webhook service from the stream itself.
func Correlate(ev *livegatev1.Event, p proto.Message) {
	k := keysOf(p)
	for _, key := range []struct {
		dst *string
		v   string
	}{
		{&ev.RoomId, k.room},
		{&ev.SessionId, k.session},
		{&ev.PeerId, k.peer},
		{&ev.BeamId, k.beam},
		{&ev.IngestId, k.ingest},
		{&ev.StreamId, k.stream},
	} {
		if *key.dst == "" {
			*key.dst = key.v
		}
	}
}
