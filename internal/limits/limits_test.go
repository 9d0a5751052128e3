package limits

import (
	"errors"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/apierror"
)

// TestCheckJSON: depth counts open objects and arrays only (not brackets in strings), and
// values count every value but no object key.
func TestCheckJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	list := func(v string, n int) string { return "[" + strings.TrimSuffix(strings.Repeat(v+",", n), ",") + "]" }
	cases := []struct {
		name, body string
		want       apierror.Reason // "" accepted
	}{
		{"at depth", deep(MaxJSONDepth), ""},
		{"one deeper", deep(MaxJSONDepth + 1), apierror.ReasonInvalidArgument},
		{"objects deeper", strings.Repeat(`{"a":`, MaxJSONDepth+1) + "1" + strings.Repeat("}", MaxJSONDepth+1), apierror.ReasonInvalidArgument},
		{"brackets in strings", `{"a":"` + strings.Repeat("[{", 1000) + `\"[[["}`, ""},
		{"at values", list("1", MaxJSONValues-1), ""},
		{"one value more", list("1", MaxJSONValues), apierror.ReasonPayloadTooLarge},
		{"keys are not values", "{" + strings.TrimSuffix(strings.Repeat(`"k":1,`, MaxJSONValues-1), ",") + "}", ""},
		{"strings, literals", list(`"x"`, MaxJSONValues/2) + list("true", MaxJSONValues/2), apierror.ReasonPayloadTooLarge},
		{"not JSON", `not json at all`, ""},
		{"empty", ``, ""},
	}
	for _, c := range cases {
		err := CheckJSON([]byte(c.body))
		var ae *apierror.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (!errors.As(err, &ae) || ae.Reason != c.want):
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
	}
}
