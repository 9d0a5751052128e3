package hms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sameMeaning reports whether two JSON documents say the same thing, and if not, the JSON path
// (e.g. `$.data.rtmp[0].url`) of the first difference and what it is. It compares the decoded
// trees exactly (objects by key set and per key, arrays by length and per index, strings, booleans
// and null by value), with only these normalizations, each one a thing protojson does on the way
// back out:
//
//  1. Numbers compare by exact decimal value (3, 3.0 and 3e0 are equal; 2^53+1 is not 2^53).
//  2. A number equals a string whose whole content is a JSON number of the same value:
//     protojson writes int64 as a JSON string ("600"), and reads 600 and "600" alike.
//  3. Two strings that differ equal each other when both parse as RFC 3339 timestamps of the same
//     instant: protojson writes a Timestamp in UTC with 0, 3, 6 or 9 fractional digits
//     ("...49.97291247Z" comes back as "...49.972912470Z").
//
// There is no other rule. In particular a key that is absent on one side and present on the
// other is a difference whatever its value: a dropped `"duration": 0`, `"user_data": ""` or
// `"lock_room": false` fails the comparison (the schema makes those fields `optional` so that
// their presence survives), and so do null against absent and [] against absent (proto3 cannot
// keep an empty list apart from no list; no sample sends one, so no rule papers over it).
func sameMeaning(want, got []byte) error {
	w, err := decodeJSONTree(want)
	if err != nil {
		return fmt.Errorf("want: %w", err)
	}
	g, err := decodeJSONTree(got)
	if err != nil {
		return fmt.Errorf("got: %w", err)
	}
	return compareJSONTrees("$", w, g)
}

// decodeJSONTree decodes one JSON document, keeping numbers as their literal text.
func decodeJSONTree(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func compareJSONTrees(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %s", path, describeJSON(got))
		}
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				return fmt.Errorf("%s: key %q missing (want %s)", path, k, describeJSON(w[k]))
			}
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: unexpected key %q (got %s)", path, k, describeJSON(g[k]))
			}
		}
		for _, k := range sortedKeys(w) {
			if err := compareJSONTrees(path+"."+k, w[k], g[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %s", path, describeJSON(got))
		}
		if len(w) != len(g) {
			return fmt.Errorf("%s: want %d elements, got %d", path, len(w), len(g))
		}
		for i := range w {
			if err := compareJSONTrees(path+"["+strconv.Itoa(i)+"]", w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		if sameNumber(w, got) {
			return nil
		}
	case string:
		if g, ok := got.(json.Number); ok && sameNumber(g, w) {
			return nil
		}
		if g, ok := got.(string); ok && (g == w || sameInstant(w, g)) {
			return nil
		}
	default: // bool, nil
		if want == got {
			return nil
		}
	}
	return fmt.Errorf("%s: want %s, got %s", path, describeJSON(want), describeJSON(got))
}

// sameNumber reports whether other, a json.Number or a string holding a JSON number, has the
// value of n (rules 1 and 2).
func sameNumber(n json.Number, other any) bool {
	var text string
	switch o := other.(type) {
	case json.Number:
		text = string(o)
	case string:
		// Only a string that is by itself a JSON number: not " 1", "0x10" or "1/2".
		var lit json.Number
		if json.Unmarshal([]byte(o), &lit) != nil || string(lit) != o {
			return false
		}
		text = o
	default:
		return false
	}
	a, ok1 := new(big.Rat).SetString(string(n))
	b, ok2 := new(big.Rat).SetString(text)
	return ok1 && ok2 && a.Cmp(b) == 0
}

// sameInstant reports whether both strings are RFC 3339 timestamps of the same instant (rule 3).
func sameInstant(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	if err != nil {
		return false
	}
	return ta.Equal(tb)
}

func describeJSON(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return fmt.Sprintf("an object with %d keys", len(v))
	case []any:
		return fmt.Sprintf("an array of %d", len(v))
	case json.Number:
		return "number " + string(v)
	case string:
		return "string " + strconv.Quote(v)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestSameMeaning checks the golden tests' comparer itself: what it must accept (its three
// normalization rules) and what it must reject, with the path it reports.
func TestSameMeaning(t *testing.T) {
	tests := []struct {
		name     string
		want     string
		got      string
		diffPath string // empty: the documents must compare equal
	}{
		{name: "identical", want: `{"a":1,"b":[true,null,"x"]}`, got: `{"b":[true,null,"x"],"a":1}`},
		{name: "number as int64 string", want: `{"size":22989889}`, got: `{"size":"22989889"}`},
		{name: "numeric string as number", want: `{"size":"40"}`, got: `{"size":40}`},
		{name: "number spelled differently", want: `{"n":3}`, got: `{"n":3.0e0}`},
		{name: "timestamp same instant", want: `{"t":"2021-11-30T12:58:49.97291247Z"}`, got: `{"t":"2021-11-30T12:58:49.972912470Z"}`},
		{name: "timestamp other offset", want: `{"t":"2021-11-30T13:58:49+01:00"}`, got: `{"t":"2021-11-30T12:58:49Z"}`},

		{name: "key dropped", want: `{"a":{"duration":0,"x":1}}`, got: `{"a":{"x":1}}`, diffPath: `$.a: key "duration" missing`},
		{name: "key added", want: `{"a":{"x":1}}`, got: `{"a":{"x":1,"y":""}}`, diffPath: `$.a: unexpected key "y"`},
		{name: "empty string dropped", want: `{"user_data":""}`, got: `{}`, diffPath: `$: key "user_data" missing`},
		{name: "false dropped", want: `{"lock_room":false}`, got: `{}`, diffPath: `$: key "lock_room" missing`},
		{name: "empty list is not absent", want: `{"rtmp":[]}`, got: `{}`, diffPath: `$: key "rtmp" missing`},
		{name: "null is not absent", want: `{"a":null}`, got: `{}`, diffPath: `$: key "a" missing`},
		{name: "different number", want: `{"n":9007199254740993}`, got: `{"n":"9007199254740992"}`, diffPath: `$.n:`},
		{name: "string not numeric", want: `{"n":1}`, got: `{"n":" 1"}`, diffPath: `$.n:`},
		{name: "fraction string", want: `{"n":0.5}`, got: `{"n":"1/2"}`, diffPath: `$.n:`},
		{name: "different string", want: `{"s":"a"}`, got: `{"s":"b"}`, diffPath: `$.s:`},
		{name: "different instant", want: `{"t":"2021-11-30T12:58:49Z"}`, got: `{"t":"2021-11-30T12:58:50Z"}`, diffPath: `$.t:`},
		{name: "bool vs string", want: `{"b":true}`, got: `{"b":"true"}`, diffPath: `$.b:`},
		{name: "array element", want: `{"r":[{"url":"x"}]}`, got: `{"r":[{"url":"y"}]}`, diffPath: `$.r[0].url:`},
		{name: "array length", want: `{"r":[1,2]}`, got: `{"r":[1]}`, diffPath: `$.r: want 2 elements, got 1`},
		{name: "object vs array", want: `{"r":{}}`, got: `{"r":[]}`, diffPath: `$.r: want an object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameMeaning([]byte(tt.want), []byte(tt.got))
			switch {
			case tt.diffPath == "" && err != nil:
				t.Fatalf("sameMeaning = %v, want equal", err)
			case tt.diffPath != "" && err == nil:
				t.Fatalf("sameMeaning = nil, want a difference at %s", tt.diffPath)
			case tt.diffPath != "" && !strings.HasPrefix(err.Error(), tt.diffPath):
				t.Fatalf("sameMeaning = %v, want it to start with %q", err, tt.diffPath)
			}
		})
	}
}
