package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// HMSDelivery is a small 100ms webhook delivery of typ about room, with a new envelope id.
func HMSDelivery(typ, room string) []byte {
	return fmt.Appendf(nil, `{"version":"2.0","id":%q,"account_id":"x","app_id":"y","timestamp":"2026-11-23T10:00:00Z","type":%q,"data":{"room_id":%q,"session_id":"s1","peer_id":"p1"}}`,
		uuid.NewString(), typ, room)
}

// PostHMS delivers a 100ms webhook body to the livegate at base (http://host:port) for the
// app acc/app with its webhook secret, and returns the sequence it was answered with and
// whether it was a duplicate. It returns errors, an answer other than 200 included, rather
// than failing a test: senders may run on goroutines of their own.
func PostHMS(client *http.Client, base, acc, app, secret string, body []byte) (seq uint64, duplicate bool, err error) {
	url := base + "/accounts/" + acc + "/realtime/kit/" + app + "/webhooks/100ms"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Secret", secret)
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		Sequence  string `json:"sequence"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, false, fmt.Errorf("answer %s: %w", raw, err)
	}
	seq, err = strconv.ParseUint(out.Sequence, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("answer %s: sequence: %w", raw, err)
	}
	return seq, out.Duplicate, nil
}
