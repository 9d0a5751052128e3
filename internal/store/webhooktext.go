package store

import (
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
