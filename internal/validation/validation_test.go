package validation_test

import (
	"runtime"
	"testing"

	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/livegate/livegate/internal/validation"
)

// TestRequestsCompiledUpFront: the first validation of any livegate.v1 request allocates
// like a validation, not like compiling its rules (thousands of allocations, milliseconds).
func TestRequestsCompiledUpFront(t *testing.T) {
	v, err := validation.Validator()
	if err != nil {
		t.Fatal(err)
	}
	reqs := validation.Requests()
	if len(reqs) < 30 {
		t.Fatalf("%d requests found in %s, want every method's (more than 30)", len(reqs), validation.Package)
	}
	names := map[string]bool{}
	for _, d := range reqs {
		names[string(d.FullName())] = true
	}
	for _, want := range []string{"livegate.v1.SubscribeRequest", "livegate.v1.ListEventsRequest", "livegate.v1.DeliverHmsWebhookRequest"} {
		if !names[want] {
			t.Errorf("%s is not among the requests compiled up front", want)
		}
	}
	for _, d := range reqs {
		msg := dynamicpb.NewMessage(d)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = v.Validate(msg) // the empty request may break its rules: only the cost counts here
		runtime.ReadMemStats(&after)
		if n := after.Mallocs - before.Mallocs; n > 300 {
			t.Errorf("first validation of %s: %d allocations; its rules were not compiled up front", d.FullName(), n)
		}
	}
}
