package limits

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
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

// TestDepthBoundDecodes: an event holding JSON nested MaxJSONDepth levels (as Struct, the
// way unknown deliveries and free-form fields are stored) decodes with a tenth of
// protobuf's default recursion limit: the bound keeps a wide margin.
func TestDepthBoundDecodes(t *testing.T) {
	body := strings.Repeat(`{"a":[`, MaxJSONDepth/2) + "1" + strings.Repeat("]}", MaxJSONDepth/2)
	if err := CheckJSON([]byte(body)); err != nil {
		t.Fatal(err)
	}
	raw := &structpb.Struct{}
	if err := raw.UnmarshalJSON([]byte(body)); err != nil {
		t.Fatal(err)
	}
	ev := &livegatev1.Event{Payload: &livegatev1.Event_Unknown{Unknown: &livegatev1.UnknownPayload{Raw: raw}}}
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := (proto.UnmarshalOptions{RecursionLimit: protowire.DefaultRecursionLimit / 10}).Unmarshal(b, &livegatev1.Event{}); err != nil {
		t.Fatalf("an event at the depth bound needs more than %d levels: %v", protowire.DefaultRecursionLimit/10, err)
	}
}
