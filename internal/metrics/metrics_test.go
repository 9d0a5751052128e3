package metrics

import (
	"testing"
	"time"
)

// TestHotPathAllocatesNothing: what the feed and the commit path call per event or per
// commit allocates nothing, and every hook is a no-op on a nil *Metrics.
func TestHotPathAllocatesNothing(t *testing.T) {
	m := New()
	for name, f := range map[string]func(){
		"Sent":      func() { m.Sent(42) },
		"FellBack":  func() { m.FellBack() },
		"Appended":  func() { m.Appended("hms"); m.Appended("livegate"); m.Appended("unknown") },
		"Committed": func() { m.Committed(17, time.Millisecond) },
		"Pruned":    func() { m.Pruned(3) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
	var none *Metrics
	none.Sent(1)
	none.FellBack()
	none.Appended("hms")
	none.Committed(1, time.Second)
	none.Pruned(1)
	none.Delivery(SourceHMS, OutcomeAccepted)
	none.GaugeFunc("x", "y", func() float64 { return 0 })
	none.HTTPRequest("unmatched", "GET", 404, time.Second)
}
