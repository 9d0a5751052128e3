// Package jsontest compares JSON documents by meaning, for tests: the golden tests of the
// provider decoders (internal/hms, internal/amity) check with it that what a decoder keeps,
// written back with protojson, says what the provider sent.
package jsontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Diff compares two JSON documents by meaning. It returns "" when they are equal, or the JSON
// path of the first difference (object keys in sorted order, depth first; e.g.
// `$.data.rtmp[0].url`) and what differs there; the error is for a document that is not JSON.
//
// Objects are equal when they have the same keys (in any order) with equal values; arrays when
// they have the same length and equal elements in order; strings, booleans and null when they
// are the same. These rules, and no others, normalize what protojson cannot or need not
// reproduce of the input's spelling:
//
//  1. Numbers compare by exact decimal value: 3, 3.0, 3e0 and -0/0 are equal; 2^53+1 is not
//     2^53.
//  2. A string whose whole content is a JSON number equals a number of that value: protojson
//     writes 64-bit integers as strings ("600") and reads 600 and "600" alike. " 1", "0x10"
//     and "1/2" are not numbers.
//  3. Two strings that both parse as RFC 3339 timestamps are equal when they are the same
//     instant: protojson writes a Timestamp in UTC with 0, 3, 6 or 9 fractional digits
//     ("...49.97291247Z" comes back as "...49.972912470Z", "+07:00" as "Z").
//  4. A key whose value is null or an empty array equals an absent key: proto3 cannot keep
//     them apart (null leaves a field unset, a repeated field has no presence), so protojson
//     omits them.
//
// So a key dropped or added is a difference whatever its value, apart from rule 4: a dropped
// `"duration": 0`, `"user_data": ""`, `"lock_room": false` or `"metadata": {}` is reported
// (schemas make such fields `optional`, and message and Struct fields have presence).
func Diff(want, got []byte) (string, error) {
	w, err := decode(want)
	if err != nil {
		return "", fmt.Errorf("want: %w", err)
	}
	g, err := decode(got)
	if err != nil {
		return "", fmt.Errorf("got: %w", err)
	}
	return diff("$", w, g), nil
}

// decode decodes one JSON document, keeping numbers as their literal text.
func decode(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

func diff(path string, want, got any) string {
	if wn, ok := number(want); ok { // rules 1 and 2
		if gn, ok := number(got); ok {
			if wn.Cmp(gn) != 0 {
				return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
			}
			return ""
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", path, show(got))
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, both := w[k]; !both {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			kp := path + "." + k
			wv, inW := w[k]
			gv, inG := g[k]
			if absent(wv, inW) && absent(gv, inG) { // rule 4
				continue
			}
			switch {
			case !inG:
				return fmt.Sprintf("%s: dropped (want %s)", kp, show(wv))
			case !inW:
				return fmt.Sprintf("%s: added (got %s)", kp, show(gv))
			}
			if d := diff(kp, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want an array, got %s", path, show(got))
		}
		for i := 0; i < len(w) && i < len(g); i++ {
			if d := diff(path+"["+strconv.Itoa(i)+"]", w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: want %d elements, got %d", path, len(w), len(g))
		}
		return ""
	case string:
		if g, ok := got.(string); ok && (g == w || sameInstant(w, g)) { // rule 3
			return ""
		}
	default: // bool, nil, or a number whose counterpart is not numeric
		if want == got {
			return ""
		}
	}
	return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
}

func absent(v any, present bool) bool {
	if !present || v == nil {
		return true
	}
	a, ok := v.([]any)
	return ok && len(a) == 0
}

// jsonNumber is the JSON number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// number returns the exact value of a JSON number, or of a string that spells one.
func number(v any) (*big.Rat, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		if !jsonNumber.MatchString(v) {
			return nil, false
		}
		s = v
	default:
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func sameInstant(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err == nil && ta.Equal(tb)
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
