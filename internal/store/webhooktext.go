package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// WebhookText is s as the delivery log stores it: valid UTF-8 (invalid bytes become U+FFFD),
// without NUL characters (PostgreSQL's text refuses them), cut to at most limit bytes on a
// character boundary (limit <= 0: no cut). An endpoint's answer is arbitrary bytes; both
// stores keep this much of it, the same on each.
func WebhookText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if limit <= 0 || len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// WebhookEventsColumn is an endpoint's filter (WebhookEndpoint.Events) as both stores'
// events column holds it: a JSON array, never null.
func WebhookEventsColumn(events []string) (string, error) {
	if events == nil {
		events = []string{}
	}
	b, err := json.Marshal(events)
	return string(b), err
}

// ParseWebhookEventsColumn reads back what WebhookEventsColumn made for endpoint id.
func ParseWebhookEventsColumn(id, col string) ([]string, error) {
	var events []string
	if err := json.Unmarshal([]byte(col), &events); err != nil {
		return nil, fmt.Errorf("the events of webhook endpoint %s: %w", id, err)
	}
	return events, nil
}
