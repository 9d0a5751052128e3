package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRefusedLines: refused requests' lines pass up to the burst, then are counted; served
// requests' lines always pass, and the first one after a suppression is preceded by a line
// with the count. A nil bound passes everything.
func TestRefusedLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := context.Background()
	r := NewRefusedLines(0.001, 3) // a burst of 3, refilled far slower than the test runs
	passed := 0
	for range 10 {
		if r.Allow(ctx, log, true) {
			passed++
		}
	}
	if passed != 3 || buf.Len() != 0 {
		t.Fatalf("10 refused: %d passed, log %q; want 3 and nothing logged", passed, buf.String())
	}
	if !r.Allow(ctx, log, false) {
		t.Fatal("a served request's line was refused")
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "access log lines of refused requests left out" || line["count"] != float64(7) {
		t.Fatalf("the count line: %q (%v), want count 7", buf.String(), err)
	}
	buf.Reset()
	if !r.Allow(ctx, log, false) || buf.Len() != 0 {
		t.Errorf("a second served line: the count written again: %q", buf.String())
	}
	// More left out within the second: counted, and written with the first line a second on.
	for range 4 {
		r.Allow(ctx, log, true)
	}
	if !r.Allow(ctx, log, false) || buf.Len() != 0 {
		t.Errorf("a count line within a second of the last: %q", buf.String())
	}
	r.lastCount.Add(-int64(time.Second))
	if !r.Allow(ctx, log, false) || !strings.Contains(buf.String(), `"count":4`) {
		t.Errorf("a second on, the count line: %q, want count 4", buf.String())
	}
	buf.Reset()
	var none *RefusedLines
	for range 5 {
		if !none.Allow(ctx, log, true) {
			t.Fatal("a nil bound refused a line")
		}
	}
	if strings.Contains(buf.String(), "left out") {
		t.Errorf("a nil bound wrote a count: %q", buf.String())
	}
}
