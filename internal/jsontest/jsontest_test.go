package jsontest

import "testing"

// TestDiff checks the comparer itself: each rule of Diff's doc comment accepts what it says,
// and everything else is a difference reported at its path.
func TestDiff(t *testing.T) {
	tests := []struct {
		name, want, got string
		diff            string // "" = equal
	}{
		{"identical, key order", `{"a":1,"b":[true,null,"x"]}`, `{"b":[true,null,"x"],"a":1}`, ""},

		// Rule 1: numbers by value.
		{"number spellings", `{"a":3,"b":1.5,"c":0}`, `{"a":3.0e0,"b":1.50,"c":-0}`, ""},
		{"exponent", `{"a":1714557600123}`, `{"a":1.714557600123e12}`, ""},
		{"beyond 2^53", `{"n":9007199254740993}`, `{"n":"9007199254740992"}`, `$.n: want 9007199254740993, got "9007199254740992"`},
		// Rule 2: numeric strings.
		{"number as int64 string", `{"size":22989889}`, `{"size":"22989889"}`, ""},
		{"numeric string as number", `{"size":"40"}`, `{"size":40}`, ""},
		{"number differs", `{"a":123}`, `{"a":"124"}`, `$.a: want 123, got "124"`},
		{"non-numeric string", `{"a":123}`, `{"a":"12x"}`, `$.a: want 123, got "12x"`},
		{"padded string", `{"n":1}`, `{"n":" 1"}`, `$.n: want 1, got " 1"`},
		{"fraction string", `{"n":0.5}`, `{"n":"1/2"}`, `$.n: want 0.5, got "1/2"`},
		// Rule 3: timestamps by instant.
		{"timestamp digits", `{"t":"2021-11-30T12:58:49.97291247Z"}`, `{"t":"2021-11-30T12:58:49.972912470Z"}`, ""},
		{"timestamp offset", `{"t":"2024-05-01T17:30:00+07:00"}`, `{"t":"2024-05-01T10:30:00Z"}`, ""},
		{"timestamp fraction", `{"t":"2023-07-24T06:45:00.000Z"}`, `{"t":"2023-07-24T06:45:00Z"}`, ""},
		{"timestamp differs", `{"t":"2023-07-24T06:45:00Z"}`, `{"t":"2023-07-24T06:45:01Z"}`, `$.t: want "2023-07-24T06:45:00Z", got "2023-07-24T06:45:01Z"`},
		// Rule 4: null and [] are as good as absent, on either side.
		{"null is absent", `{"a":null,"b":1}`, `{"b":1}`, ""},
		{"absent is null", `{"b":1}`, `{"a":null,"b":1}`, ""},
		{"empty array is absent", `{"a":[],"b":1}`, `{"b":1}`, ""},
		{"null vs value", `{"a":null}`, `{"a":0}`, `$.a: want null, got 0`},

		// No other rule.
		{"empty object is not absent", `{"a":{},"b":1}`, `{"b":1}`, `$.a: dropped (want {})`},
		{"false is not absent", `{"lock_room":false}`, `{}`, `$.lock_room: dropped (want false)`},
		{"empty string is not absent", `{"user_data":""}`, `{}`, `$.user_data: dropped (want "")`},
		{"zero is not absent", `{"a":{"duration":0,"x":1}}`, `{"a":{"x":1}}`, `$.a.duration: dropped (want 0)`},
		{"key added", `{"a":{"b":"x"}}`, `{"a":{"b":"x","c":false}}`, `$.a.c: added (got false)`},
		{"different string", `{"s":"a"}`, `{"s":"b"}`, `$.s: want "a", got "b"`},
		{"bool vs string", `{"b":true}`, `{"b":"true"}`, `$.b: want true, got "true"`},
		{"bool differs", `{"a":true}`, `{"a":false}`, `$.a: want true, got false`},
		{"array element path", `{"r":[{"url":"x"}]}`, `{"r":[{"url":"y"}]}`, `$.r[0].url: want "x", got "y"`},
		{"array length", `{"a":[1,2]}`, `{"a":[1]}`, `$.a: want 2 elements, got 1`},
		{"object vs array", `{"a":{"b":1}}`, `{"a":[1]}`, `$.a: want an object, got [1]`},
		{"first difference in sorted key order", `{"b":1,"a":1}`, `{"b":2,"a":2}`, `$.a: want 1, got 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff, err := Diff([]byte(tt.want), []byte(tt.got))
			if err != nil {
				t.Fatal(err)
			}
			if diff != tt.diff {
				t.Errorf("Diff = %q, want %q", diff, tt.diff)
			}
		})
	}
	if _, err := Diff([]byte(`{} {}`), []byte(`{}`)); err == nil {
		t.Error("Diff accepted two documents as one")
	}
}
