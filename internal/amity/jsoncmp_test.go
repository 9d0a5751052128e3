package amity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// semanticDiff compares two JSON documents in meaning and returns "" when they
// are equal, or the JSON path of the first difference (keys in sorted order,
// depth first) with what differs there.
//
// Same keys and same values, except for these normalization rules, each there
// because protojson cannot or need not reproduce the input's spelling:
//
//  1. Numbers are compared by exact decimal value, and a string that is a
//     JSON number (e.g. "123", "1.5e3") equals the number it spells: 123,
//     123.0 and "123" are equal. protojson writes 64-bit integers as strings
//     and Amity may send either. (So a string field "123" would also equal
//     the number 123; the proto's types rule that out on the decode side.)
//  2. Two strings that both parse as RFC 3339 timestamps are equal when they
//     are the same instant: "2024-05-01T17:30:00+07:00" equals
//     "2024-05-01T10:30:00Z", and ".000Z" equals "Z". protojson writes
//     timestamps in UTC with 0, 3, 6 or 9 fractional digits.
//  3. A key whose value is null or an empty array equals an absent key:
//     proto3 cannot tell them apart (null leaves a field unset; a repeated
//     field has no presence), so protojson omits them. An empty object is NOT
//     normalized: message and Struct fields have presence and are written
//     back as {}.
//
// Anything else that differs (a key dropped or added, a different string,
// boolean, type or array length) is reported.
func semanticDiff(want, got []byte) (string, error) {
	w, err := decodeAny(want)
	if err != nil {
		return "", fmt.Errorf("want: %w", err)
	}
	g, err := decodeAny(got)
	if err != nil {
		return "", fmt.Errorf("got: %w", err)
	}
	return diffValue("$", w, g), nil
}

func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
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

func diffValue(path string, want, got any) string {
	// Rule 1: numbers and numeric strings by value.
	if wn, ok := numberValue(want); ok {
		if gn, ok := numberValue(got); ok {
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
			if _, dup := w[k]; !dup {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			kp := path + "." + k
			wv, inW := w[k]
			gv, inG := g[k]
			// Rule 3: null and [] are as good as absent.
			if absentLike(wv, inW) && absentLike(gv, inG) {
				continue
			}
			switch {
			case !inG:
				return fmt.Sprintf("%s: dropped (want %s)", kp, show(wv))
			case !inW:
				return fmt.Sprintf("%s: added (got %s)", kp, show(gv))
			}
			if d := diffValue(kp, wv, gv); d != "" {
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
			if d := diffValue(path+"["+strconv.Itoa(i)+"]", w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: want %d elements, got %d", path, len(w), len(g))
		}
		return ""
	case string:
		g, ok := got.(string)
		if ok && g == w {
			return ""
		}
		// Rule 2: timestamps by instant.
		if ok {
			if wt, err := time.Parse(time.RFC3339Nano, w); err == nil {
				if gt, err := time.Parse(time.RFC3339Nano, g); err == nil && wt.Equal(gt) {
					return ""
				}
			}
		}
		return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
	default: // bool, nil, or a number whose counterpart is not numeric
		if want == got {
			return ""
		}
		return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
	}
}

func absentLike(v any, present bool) bool {
	if !present || v == nil {
		return true
	}
	a, ok := v.([]any)
	return ok && len(a) == 0
}

// jsonNumber matches the JSON number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// numberValue returns the exact value of a JSON number, or of a string that
// spells one.
func numberValue(v any) (*big.Rat, bool) {
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
	r, ok := new(big.Rat).SetString(s)
	return r, ok
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

func TestSemanticDiff(t *testing.T) {
	tests := []struct {
		name, want, got string
		diff            string // "" = equal
	}{
		{"identical", `{"a":1,"b":[true,null,"x"]}`, `{"b":[true,null,"x"],"a":1}`, ""},
		{"number spellings", `{"a":123,"b":1.5,"c":0}`, `{"a":"123","b":1.50,"c":-0}`, ""},
		{"exponent", `{"a":1714557600123}`, `{"a":1.714557600123e12}`, ""},
		{"number differs", `{"a":123}`, `{"a":"124"}`, `$.a: want 123, got "124"`},
		{"non-numeric string is not a number", `{"a":123}`, `{"a":"12x"}`, `$.a: want 123, got "12x"`},
		{"timestamp offset", `{"t":"2024-05-01T17:30:00+07:00"}`, `{"t":"2024-05-01T10:30:00Z"}`, ""},
		{"timestamp fraction", `{"t":"2023-07-24T06:45:00.000Z"}`, `{"t":"2023-07-24T06:45:00Z"}`, ""},
		{"timestamp differs", `{"t":"2023-07-24T06:45:00Z"}`, `{"t":"2023-07-24T06:45:01Z"}`, `$.t: want "2023-07-24T06:45:00Z", got "2023-07-24T06:45:01Z"`},
		{"null is absent", `{"a":null,"b":1}`, `{"b":1}`, ""},
		{"empty array is absent", `{"a":[],"b":1}`, `{"b":1}`, ""},
		{"empty object is not absent", `{"a":{},"b":1}`, `{"b":1}`, `$.a: dropped (want {})`},
		{"key dropped", `{"a":{"b":"x","c":"y"}}`, `{"a":{"b":"x"}}`, `$.a.c: dropped (want "y")`},
		{"key added", `{"a":{"b":"x"}}`, `{"a":{"b":"x","c":false}}`, `$.a.c: added (got false)`},
		{"false is not absent", `{"a":false}`, `{}`, `$.a: dropped (want false)`},
		{"empty string is not absent", `{"a":""}`, `{}`, `$.a: dropped (want "")`},
		{"array element path", `{"a":[{"b":1},{"b":2}]}`, `{"a":[{"b":1},{"b":3}]}`, `$.a[1].b: want 2, got 3`},
		{"array length", `{"a":[1,2]}`, `{"a":[1]}`, `$.a: want 2 elements, got 1`},
		{"type differs", `{"a":{"b":1}}`, `{"a":[1]}`, `$.a: want an object, got [1]`},
		{"bool differs", `{"a":true}`, `{"a":false}`, `$.a: want true, got false`},
		{"null vs value", `{"a":null}`, `{"a":0}`, `$.a: want null, got 0`},
		{"first difference in sorted key order", `{"b":1,"a":1}`, `{"b":2,"a":2}`, `$.a: want 1, got 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff, err := semanticDiff([]byte(tt.want), []byte(tt.got))
			if err != nil {
				t.Fatal(err)
			}
			if diff != tt.diff {
				t.Errorf("semanticDiff = %q, want %q", diff, tt.diff)
			}
		})
	}
}
