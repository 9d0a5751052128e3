package event

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/livegate/livegate/internal/apierror"
)

// TestRefusedAtCursor: only the cursor's own errors keep a subscription's header back (its
// status is then the whole answer); a storage failure or shutdown at the first read comes
// after the header, so a browser reconnects as it should.
func TestRefusedAtCursor(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("replay events after 1: %w", apierror.New(apierror.ReasonEventUnreadable, "event 2 cannot be read back")), true},
		{apierror.CursorCompacted("after_sequence", 1, 5, "resume"), true},
		{apierror.New(apierror.ReasonStorageUnavailable, "disk full"), false},
		{errors.New("sqlite: database is locked"), false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := refusedAtCursor(c.err); got != c.want {
			t.Errorf("refusedAtCursor(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
