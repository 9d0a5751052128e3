package outbound

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/livegate/livegate/gateway"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// TypeTest is the type of the event a ping (POST webhooks/{id}/test) sends.
const TypeTest = "webhook.test"

// body is what an endpoint is sent for ev: the event as the REST API writes it (the JSON of
// an SSE data: line), or, when the endpoint asked for it by a RealtimeKit event name
// (rtk), the payload RealtimeKit sends for that event, with what livegate knows of it.
func body(ev *livegatev1.Event, rtk string) ([]byte, error) {
	if rtk == "" {
		return gateway.Marshaler.Marshal(ev)
	}
	return json.Marshal(realtimeKitBody(ev, rtk))
}

// RealtimeKit's webhook payloads are {"event": name, ...} with the resource the event is
// about: "meeting" ({id, sessionId, status, startedAt, endedAt, ...}), "participant",
// "streamId" and "status" for livestreaming.statusUpdate. livegate fills what it knows.
type rtkMeeting struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
	Status    string `json:"status,omitempty"`
	StartedAt string `json:"startedAt,omitempty"`
	EndedAt   string `json:"endedAt,omitempty"`
}

type rtkParticipant struct {
	PeerID              string `json:"peerId,omitempty"`
	UserDisplayName     string `json:"userDisplayName,omitempty"`
	CustomParticipantID string `json:"customParticipantId,omitempty"`
	JoinedAt            string `json:"joinedAt,omitempty"`
	LeftAt              string `json:"leftAt,omitempty"`
}

type rtkRecording struct {
	// Status is RECORDING (a recording started), UPLOADED (finished) or ERRORED.
	Status string `json:"status"`
	// Type is the livegate event that reported it (hls.recording.success, ...).
	Type string `json:"livegateType"`
}

type rtkBody struct {
	Event       string          `json:"event"`
	Meeting     *rtkMeeting     `json:"meeting,omitempty"`
	Participant *rtkParticipant `json:"participant,omitempty"`
	// recording.statusUpdate
	Recording *rtkRecording `json:"recording,omitempty"`
	// livestreaming.statusUpdate
	StreamID string `json:"streamId,omitempty"`
	Status   string `json:"status,omitempty"`
	// Reason is the livestream's error message or Amity's termination reason, when there is one.
	Reason string `json:"reason,omitempty"`
}

func realtimeKitBody(ev *livegatev1.Event, name string) rtkBody {
	b := rtkBody{Event: name}
	if ev.GetRoomId() != "" || ev.GetSessionId() != "" {
		b.Meeting = &rtkMeeting{ID: ev.GetRoomId(), SessionID: ev.GetSessionId()}
	}
	at := ""
	if t := ev.GetOccurredAt(); t != nil {
		at = t.AsTime().UTC().Format(time.RFC3339Nano)
	}
	switch name {
	case "livestreaming.statusUpdate":
		b.StreamID = ev.GetLivestreamId()
		if c := ev.GetLivestreamStatusChanged(); c != nil {
			b.StreamID = c.GetLivestreamId()
			if c.GetNewStatus() != livegatev1.LivestreamStatus_LIVESTREAM_STATUS_UNSPECIFIED {
				b.Status = c.GetNewStatus().String()
			}
			b.Reason = c.GetReason()
			if b.Meeting != nil && c.GetSessionId() != "" && b.Meeting.SessionID == "" {
				b.Meeting.SessionID = c.GetSessionId()
			}
		}
	case "recording.statusUpdate":
		st := "UPLOADED"
		switch typ := ev.GetType(); {
		case strings.Contains(typ, "started"):
			st = "RECORDING"
		case strings.Contains(typ, "fail"):
			st = "ERRORED"
		}
		b.Recording = &rtkRecording{Status: st, Type: ev.GetType()}
	case "meeting.started":
		if b.Meeting != nil {
			b.Meeting.Status, b.Meeting.StartedAt = "LIVE", at
		}
	case "meeting.ended":
		if b.Meeting != nil {
			b.Meeting.Status, b.Meeting.EndedAt = "ENDED", at
		}
	}
	if ev.GetPeerId() != "" {
		b.Participant = &rtkParticipant{PeerID: ev.GetPeerId()}
		if j := ev.GetHmsPeerJoinSuccess(); j != nil {
			b.Participant.UserDisplayName, b.Participant.CustomParticipantID, b.Participant.JoinedAt = j.GetUserName(), j.GetUserId(), at
		}
		if l := ev.GetHmsPeerLeaveSuccess(); l != nil {
			b.Participant.UserDisplayName, b.Participant.CustomParticipantID, b.Participant.LeftAt = l.GetUserName(), l.GetUserId(), at
		}
	}
	return b
}
