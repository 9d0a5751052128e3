package webhookevents

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/hms"
)

func mustParse(t *testing.T, events ...string) Filter {
	t.Helper()
	f, err := Parse(events)
	if err != nil {
		t.Fatalf("Parse(%q): %v", events, err)
	}
	return f
}

func TestMatch(t *testing.T) {
	f := mustParse(t, "hls.", "livestreaming.statusUpdate", "video-streaming.didStop", "meeting.participantJoined", "recording.statusUpdate")
	for _, tc := range []struct {
		source, typ string
		name        string
		ok          bool
	}{
		{"hms", "hls.started.success", "", true}, // a prefix
		{"hms", "hls.recording.success", "recording.statusUpdate", true},
		{"hms", "hlsx", "", false},
		{"amity", "video-streaming.didStop", "", true}, // an exact type
		{"amity", "video-streaming.didStart", "", false},
		{"livegate", "livestream.status_changed", "livestreaming.statusUpdate", true},
		{"hms", "livestream.status_changed", "", false}, // a RealtimeKit name stands for one source's events
		{"hms", "peer.join.success", "meeting.participantJoined", true},
		{"hms", "peer.leave.success", "", false},
		{"hms", "recording.success", "recording.statusUpdate", true},
		{"hms", "recording.failed", "recording.statusUpdate", true},
		{"amity", "video-streaming.didRecord", "recording.statusUpdate", true},
		{"hms", "session.open.success", "", false},
		{"livegate", "webhook_endpoint.disabled", "", false},
	} {
		name, ok := f.Match(tc.source, tc.typ)
		if name != tc.name || ok != tc.ok {
			t.Errorf("Match(%s, %s) = %q, %v; want %q, %v", tc.source, tc.typ, name, ok, tc.name, tc.ok)
		}
	}
	// A RealtimeKit name wins over a prefix that selects the same event.
	h := mustParse(t, "peer.", "meeting.participantJoined", "livestream.status_changed", "livestreaming.statusUpdate")
	for _, tc := range [][3]string{
		{"hms", "peer.join.success", "meeting.participantJoined"},
		{"hms", "peer.leave.success", ""},
		{"livegate", "livestream.status_changed", "livestreaming.statusUpdate"},
	} {
		if name, ok := h.Match(tc[0], tc[1]); !ok || name != tc[2] {
			t.Errorf("Match(%s, %s) = %q, %v; want %q, true", tc[0], tc[1], name, ok, tc[2])
		}
	}
	// A type selects any source's, as Subscribe's filter.
	g := mustParse(t, "webhook_endpoint.disabled", "session.")
	for _, ev := range [][2]string{{"livegate", "webhook_endpoint.disabled"}, {"hms", "session.open.success"}, {"x", "session.close.success"}} {
		if name, ok := g.Match(ev[0], ev[1]); !ok || name != "" {
			t.Errorf("Match(%s, %s) = %q, %v; want \"\", true", ev[0], ev[1], name, ok)
		}
	}
}

// TestNames: every RealtimeKit name that maps to 100ms events maps to types 100ms sends
// (internal/hms knows them), and every RealtimeKit name of the SDKs' enum is either mapped
// or refused with a reason.
func TestNames(t *testing.T) {
	for n, srcs := range Names {
		for _, s := range srcs {
			if s.Source == "hms" {
				if !slices.Contains(hms.Types(), s.Type) {
					t.Errorf("%s maps to hms %s, which 100ms does not send", n, s.Type)
				}
			}
		}
	}
	sdkEnum := []string{"meeting.started", "meeting.ended", "meeting.participantJoined", "meeting.participantLeft",
		"meeting.chatSynced", "recording.statusUpdate", "livestreaming.statusUpdate", "meeting.transcript", "meeting.summary"}
	for _, n := range sdkEnum {
		_, mapped := Names[n]
		_, refused := Unsupported[n]
		if mapped == refused {
			t.Errorf("%s: mapped %v, refused %v; want exactly one", n, mapped, refused)
		}
	}
	if len(Names)+len(Unsupported) != len(sdkEnum) {
		t.Errorf("%d names mapped or refused, the SDKs' enum has %d", len(Names)+len(Unsupported), len(sdkEnum))
	}
}

func TestStoreFilter(t *testing.T) {
	f := mustParse(t, "hls.", "meeting.started", "livestreaming.statusUpdate", "x.y")
	got := f.StoreFilter()
	want := []string{"hls.", "x.y", "session.open.success", "livestream.status_changed"}
	if !slices.Equal(got.Types, want) || len(got.Sources) != 0 || got.LivestreamID != "" || got.RoomID != "" {
		t.Errorf("StoreFilter = %+v, want types %v", got, want)
	}
	// Everything Match selects, the store filter selects.
	all := mustParse(t, SupportedNames()...)
	sf := all.StoreFilter()
	for n, srcs := range Names {
		for _, s := range srcs {
			if !slices.Contains(sf.Types, s.Type) {
				t.Errorf("StoreFilter of every name lacks %s (%s)", s.Type, n)
			}
		}
	}
}

func TestParseRefuses(t *testing.T) {
	long := strings.Repeat("a", MaxEntryBytes+1)
	many := make([]string, MaxEntries+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, tc := range []struct {
		name   string
		events []string
		field  string
		words  []string
		meta   map[string]string
	}{
		{"none", nil, "events", []string{"at least 1"}, nil},
		{"empty list", []string{}, "events", []string{"at least 1"}, nil},
		{"empty entry", []string{"hls.", ""}, "events[1]", []string{"value length must be at least 1 characters"}, nil},
		{"too long", []string{long}, "events[0]", []string{"at most 128 bytes"}, nil},
		{"too many", many, "events", []string{"65 entries", "at most 64"}, nil},
		{"duplicate", []string{"hls.", "peer.", "hls."}, "events[2]", []string{`"hls." is listed twice`, "events[0]"}, nil},
		{"duplicate name", []string{"meeting.started", "meeting.started"}, "events[1]", []string{"listed twice"}, nil},
		// Entries that can match no event (the API audit's endpoints were silent with them).
		{"wildcard", []string{"*"}, "events[0]", []string{`"*"`, "no wildcard", "prefix ending in '.'"}, nil},
		{"wildcard in a name", []string{"hls.", "peer.*"}, "events[1]", []string{"no wildcard"}, nil},
		{"dot", []string{"."}, "events[0]", []string{"begins with '.'"}, nil},
		{"leading dot", []string{".hls"}, "events[0]", []string{"begins with '.'"}, nil},
		{"empty name", []string{"hls..started"}, "events[0]", []string{"empty name"}, nil},
		{"space", []string{"hls. "}, "events[0]", []string{"no spaces"}, nil},
		{"control", []string{"hls\x07."}, "events[0]", []string{"control characters"}, nil},
		{"chat", []string{"hls.", "meeting.chatSynced"}, "events", []string{"meeting.chatSynced (livegate has no chat source)", "livestreaming.statusUpdate"},
			map[string]string{"unsupported": "meeting.chatSynced"}},
		{"transcript and summary", []string{"meeting.transcript", "meeting.started", "meeting.summary"}, "events",
			[]string{"meeting.transcript (livegate has no transcript source)", "meeting.summary (livegate has no meeting summary source)"},
			map[string]string{"unsupported": "meeting.transcript,meeting.summary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.events)
			var e *apierror.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse: %v, want an *apierror.Error", err)
			}
			if e.Code() != codes.InvalidArgument || e.Reason != apierror.ReasonInvalidArgument {
				t.Errorf("code %v reason %s, want InvalidArgument INVALID_ARGUMENT", e.Code(), e.Reason)
			}
			if e.Metadata["field"] != tc.field || !strings.HasPrefix(e.Message, tc.field+": ") {
				t.Errorf("field %q, message %q; want field %q", e.Metadata["field"], e.Message, tc.field)
			}
			for _, w := range tc.words {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
			for k, v := range tc.meta {
				if e.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, e.Metadata[k], v)
				}
			}
		})
	}
}

// TestParseStored: a stored list is read with the entries the API now refuses as matching
// nothing (ParseStored), so that its other entries still select their events.
func TestParseStored(t *testing.T) {
	events := []string{"livestream.", "peer.*", "."}
	if _, err := Parse(events); err == nil {
		t.Fatalf("Parse(%q): accepted", events)
	}
	f, err := ParseStored(events)
	if err != nil {
		t.Fatalf("ParseStored(%q): %v", events, err)
	}
	if _, ok := f.Match("livegate", "livestream.status_changed"); !ok {
		t.Error("the stored list's livestream. does not match livestream.status_changed")
	}
	if _, ok := f.Match("hms", "peer.join.success"); ok {
		t.Error(`"peer.*" matches peer.join.success: it is no wildcard`)
	}
}

func TestParseAccepts(t *testing.T) {
	max := make([]string, MaxEntries)
	for i := range max {
		max[i] = fmt.Sprintf("t%d.", i)
	}
	for _, events := range [][]string{
		max,
		{strings.Repeat("a", MaxEntryBytes)},
		{"recording.", "meeting.started"}, // a prefix and a name that select different events
		{"meeting.", "livestreaming."},    // livegate prefixes (selecting nothing today), as Subscribe accepts
		{"peer.leave.success", "meeting.participantJoined"},
		{"video-streaming.didStop", "livestream.status_changed", "webhook_endpoint.", "HLS.", "nonsense"}, // a type no provider has sent yet may come
		SupportedNames(),
	} {
		if _, err := Parse(events); err != nil {
			t.Errorf("Parse(%q): %v", events, err)
		}
	}
}
