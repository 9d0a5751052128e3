package server_test

import (
	"testing"

	"github.com/livegate/livegate/internal/amity"
)

// TestDeliveryRefusalsSameWords: a delivery a decoder refuses is 400 INVALID_ARGUMENT whose
// message is "FIELD: KIND: REASON" for every provider (100ms, Amity, nginx-rtmp callbacks):
// the field as the body spells it ("body" for the body as a whole), then one of the words of
// internal/decode's kinds (missing, wrong type, invalid value, ...), then what is wrong.
func TestDeliveryRefusalsSameWords(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp(accA, appA)
	hmsSecret := map[string]string{"X-Webhook-Secret": creds.WebhookSecret}
	signed := func(body string) map[string]string {
		return map[string]string{amity.SignatureHeader: amity.Sign([]byte(creds.WebhookSecret), []byte(body))}
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	onPublish := "/rtmp/" + rtmpSecret(t, s) + "/on_publish"
	stream := func(field string) string {
		return `{"event":"video-streaming.didStart","data":{"videoStreamings":[{"streamId":"s1",` + field + `}]}}`
	}

	cases := []struct {
		name, path string
		headers    map[string]string
		body       string
		message    string
	}{
		{"100ms missing", hmsPath(accA, appA), hmsSecret, `{"data":{}}`, `type: missing: absent or null`},
		{"100ms wrong type", hmsPath(accA, appA), hmsSecret, `{"type":"peer.join.success","data":{"joined_at":1638277129}}`, `data.joined_at: wrong type: expected an RFC 3339 timestamp string, got number 1638277129`},
		{"100ms invalid value", hmsPath(accA, appA), hmsSecret, `{"type":"peer.leave.success","data":{"duration":"forty"}}`, `data.duration: invalid value: string "forty" is not a valid int64`},
		{"100ms not JSON", hmsPath(accA, appA), hmsSecret, `{"type":`, `body: not JSON: empty, or ends early`},
		{"Amity missing", amityPath(accA, appA), signed(`{"data":{}}`), `{"data":{}}`, `event: missing: absent or null`},
		{"Amity wrong type", amityPath(accA, appA), signed(stream(`"isLive":"yes"`)), stream(`"isLive":"yes"`), `data.videoStreamings[0].isLive: wrong type: expected a boolean, got string "yes"`},
		{"Amity invalid value", amityPath(accA, appA), signed(stream(`"startedAt":"yesterday"`)), stream(`"startedAt":"yesterday"`), `data.videoStreamings[0].startedAt: invalid value: string "yesterday" is not a valid RFC 3339 timestamp`},
		{"Amity no stream", amityPath(accA, appA), signed(`{"event":"video-streaming.didStop","data":{}}`), `{"event":"video-streaming.didStop","data":{}}`, `data.videoStreamings: missing: at least one video stream is required`},
		{"Amity not an object", amityPath(accA, appA), signed(`[]`), `[]`, `body: not a JSON object: got an array`},
		{"RTMP missing", onPublish, form, `call=publish&app=live&clientid=1`, `name: missing: required for call "publish"`},
		{"RTMP invalid value", onPublish, form, `call=publish&app=live&name=k&clientid=x1`, `clientid: invalid value: "x1" is not a decimal 64-bit unsigned integer: invalid syntax`},
		{"RTMP call on the wrong hook", onPublish, form, `call=play&app=live&name=k&clientid=1`, `call: invalid value: "play" does not belong on on_publish (expected publish)`},
		{"RTMP not a form", onPublish, form, `%zz`, `body: invalid value: not a URL-encoded form: invalid URL escape "%zz"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.post(c.path, c.headers, []byte(c.body))
			code, message, reason := envelope(t, resp.Raw)
			if resp.Status != 400 || code != 400 || reason != "INVALID_ARGUMENT" || message != c.message {
				t.Errorf("HTTP %d %s\nwant 400 INVALID_ARGUMENT %q", resp.Status, resp.Raw, c.message)
			}
		})
	}
	if got := s.allEvents(creds.APIToken, accA, appA); len(got) != 0 {
		t.Errorf("refused deliveries stored %d events", len(got))
	}
}
