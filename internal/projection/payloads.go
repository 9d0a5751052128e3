package projection

import (
	"net/url"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
)

// What the rules read from 100ms payloads, by the payload's Go type: renaming or removing a
// field they read is a compile error here, not a silent miss. Each reader lists the payloads
// of the event types it serves (see hmsEffects); payloads_test.go checks that the lists miss
// no event type and no field.

// keys are the correlation keys a payload carries (see Correlate).
type keys struct {
	room, session, peer, beam, ingest, stream string
}

// keysOf returns the correlation keys of a 100ms payload; none for any other message.
func keysOf(p proto.Message) keys {
	switch m := p.(type) {
	case *hmsv1.SessionOpenSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.SessionCloseSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.PeerJoinSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.PeerLeaveSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.PeerJoinFailure:
		return keys{room: m.GetRoomId(), peer: m.GetPeerId()}
	case *hmsv1.PeerLeaveFailure:
		return keys{room: m.GetRoomId(), peer: m.GetPeerId()}
	case *hmsv1.RoomEndSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.RoomEndFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.TrackRecordingStartedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), stream: m.GetStreamId()}
	case *hmsv1.TrackRecordingSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), stream: m.GetStreamId()}
	case *hmsv1.TrackRecordingFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), stream: m.GetStreamId()}
	case *hmsv1.StreamRecordingSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), stream: m.GetStreamId()}
	case *hmsv1.StreamRecordingFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), stream: m.GetStreamId()}
	case *hmsv1.RecordingSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.RecordingFailed:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.BeamStartedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.BeamStoppedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.BeamRecordingSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.BeamFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.HlsStartedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.HlsStoppedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.HlsRecordingSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), beam: m.GetBeamId()}
	case *hmsv1.HlsFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId(), beam: m.GetBeamId()}
	case *hmsv1.RoleChangeSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.RoleChangeFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId(), peer: m.GetPeerId()}
	case *hmsv1.TranscriptionStartedSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.TranscriptionSuccess:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.TranscriptionFailure:
		return keys{room: m.GetRoomId(), session: m.GetSessionId()}
	case *hmsv1.IngestStartSuccess:
		return keys{room: m.GetRoomId(), ingest: m.GetIngestId(), stream: m.GetStreamId()}
	case *hmsv1.IngestEndSuccess:
		return keys{room: m.GetRoomId(), ingest: m.GetIngestId(), stream: m.GetStreamId()}
	case *hmsv1.IngestStartFailure:
		return keys{room: m.GetRoomId()}
	case *hmsv1.IngestFailure:
		return keys{room: m.GetRoomId(), ingest: m.GetIngestId()}
	}
	return keys{}
}

// MaxPlaybackURLBytes bounds a provider's playback URL that a livestream keeps
// (providerPlayback); a longer one is ignored.
const MaxPlaybackURLBytes = 2048

// providerPlayback is where a provider's start event (goLive) says its run plays: 100ms's
// hls.started.success url, an Amity stream's HLS watcher URL. "" when it says nowhere, or
// gives anything but an absolute http or https URL of at most MaxPlaybackURLBytes (ignored:
// the event itself is still taken).
func providerPlayback(p proto.Message) string {
	var raw string
	switch m := p.(type) {
	case *hmsv1.HlsStartedSuccess:
		raw = m.GetUrl()
	default:
		raw = amityStream(p).GetWatcherUrl().GetHls().GetUrl()
	}
	if raw == "" || len(raw) > MaxPlaybackURLBytes || !utf8.ValidString(raw) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return raw
}

// hmsStartedAt: when a 100ms start event (goLive) says its run started, if it says.
func hmsStartedAt(p proto.Message) (time.Time, bool) {
	switch m := p.(type) {
	case *hmsv1.HlsStartedSuccess:
		return when(m.GetStartedAt())
	case *hmsv1.IngestStartSuccess:
		return when(m.GetStartedAt())
	case *hmsv1.BeamStartedSuccess: // says nothing
	}
	return time.Time{}, false
}

// stopped is what a 100ms stop event (goIdle) says: when the run started and stopped, how
// long it ran (nil: not said), and why.
type stopped struct {
	startedAt, at *timestamppb.Timestamp
	duration      *int64
	reason        string
}

func hmsStopped(p proto.Message) stopped {
	switch m := p.(type) {
	case *hmsv1.HlsStoppedSuccess:
		return stopped{startedAt: m.GetStartedAt(), at: m.GetStoppedAt(), duration: m.Duration, reason: m.GetReason()}
	case *hmsv1.BeamStoppedSuccess:
		return stopped{duration: m.Duration, reason: m.GetReason()}
	case *hmsv1.IngestEndSuccess:
		return stopped{startedAt: m.GetStartedAt(), at: m.GetCompletedAt(), duration: m.Duration, reason: m.GetReason()}
	}
	return stopped{}
}

// hmsFailure is the error message of a 100ms failure event (goErrored).
func hmsFailure(p proto.Message) string {
	switch m := p.(type) {
	case *hmsv1.HlsFailure:
		return m.GetErrorMessage()
	case *hmsv1.BeamFailure:
		return m.GetErrorMessage()
	case *hmsv1.IngestFailure:
		return m.GetErrorMessage()
	case *hmsv1.IngestStartFailure:
		return m.GetErrorMessage()
	}
	return ""
}

// hmsRecordedSeconds is the length of a 100ms recording (recorded), 0 if not said.
func hmsRecordedSeconds(p proto.Message) int64 {
	switch m := p.(type) {
	case *hmsv1.RecordingSuccess:
		return m.GetDuration()
	case *hmsv1.BeamRecordingSuccess:
		return m.GetDuration()
	case *hmsv1.HlsRecordingSuccess:
		return m.GetDuration()
	case *hmsv1.StreamRecordingSuccess:
		return m.GetDuration()
	case *hmsv1.TrackRecordingSuccess:
		return m.GetDuration()
	}
	return 0
}

// meeting is what a 100ms meeting-session event (meetingOpened, meetingClosed) says.
type meeting struct {
	id, room           string
	startedAt, stopped *timestamppb.Timestamp
	duration           *int64 // nil: not said
}

func hmsMeeting(p proto.Message) meeting {
	switch m := p.(type) {
	case *hmsv1.SessionOpenSuccess:
		return meeting{id: m.GetSessionId(), room: m.GetRoomId(), startedAt: m.GetSessionStartedAt()}
	case *hmsv1.SessionCloseSuccess:
		return meeting{id: m.GetSessionId(), room: m.GetRoomId(), startedAt: m.GetSessionStartedAt(),
			stopped: m.GetSessionStoppedAt(), duration: m.SessionDuration}
	}
	return meeting{}
}

// when is a set timestamp's time; 100ms writes 0001-01-01 for "never", which is not set.
func when(ts *timestamppb.Timestamp) (time.Time, bool) {
	if ts == nil || ts.AsTime().Year() <= 1 {
		return time.Time{}, false
	}
	return ts.AsTime(), true
}
