package decode

import (
	"bytes"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/limits"
)

// FuzzObjectOnePass: Object's one-pass reading (fastObject) accepts only bodies that the
// token-by-token checks (slowObject) accept, with the same members: so what Object refuses,
// and how, is decided by the latter alone.
func FuzzObjectOnePass(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,{"b":null}]}`, `{}`, ` { "a" : 1 , "b" : "x" } `, "{\"a\":\t\n\r1}",
		`{"a":{"b":1,"b":2}}`, `{"a b":1,"a b":2}`, `{"a":{"b":1},"c":{"b":2}}`,
		`{"a\u0062":1,"ab":2}`, `{"\ud800":1,"\ufffd":2}`, `{"a":"\ud800"}`, `{"a":"\u00e9","\u00e9":2}`,
		`{"a":-0.0e+1,"b":1e400,"c":01}`, `{"a":tru}`, `{"a":1,}`, `{"a":[1,]}`, `{} {}`, `{}x`,
		`[{}]`, `null`, `"s"`, ``, `{"a":[`, "{\"a\":\"\xff\"}", "{\"\xff\":1}",
		`{"a":` + strings.Repeat("[", limits.MaxJSONDepth-1) + strings.Repeat("]", limits.MaxJSONDepth-1) + `}`,
		`{"a":` + strings.Repeat("[", limits.MaxJSONDepth) + strings.Repeat("]", limits.MaxJSONDepth) + `}`,
		`{"type":"peer.join.success","data":{"room_id":"r","peer_id":"p","n":12345678901234567890}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastObject(body)
		slow, err := slowObject(body)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%q: accepted in one pass, refused by the token checks: %v", body, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%q: %d members in one pass, %d by the token checks", body, len(fast), len(slow))
		}
		for k, v := range slow {
			if !bytes.Equal(bytes.TrimSpace(v), bytes.TrimSpace(fast[k])) {
				t.Fatalf("%q: member %q is %q in one pass, %q by the token checks", body, k, fast[k], v)
			}
		}
	})
}
