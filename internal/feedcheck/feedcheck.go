// Package feedcheck checks what clients of the event feed were told against what the store
// kept: the feed's promise is that a subscriber receives, in strictly increasing order,
// exactly the stored events matching its filter after its first cursor (no gap, no
// duplicate, no reordering), and that every delivery answered 200 is stored exactly once.
//
// Tests record what each client saw (sequences received, sequences acknowledged) while
// faults happen, then check it here against a listing of the store taken at the end, in the
// manner of etcd's robustness tests: what clients were told is compared with what survived.
package feedcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Report is what a check found wrong; the zero Report is a pass.
type Report struct {
	// Missing: stored (and expected) but never received — a gap.
	Missing []uint64
	// Duplicated: received more than once.
	Duplicated []uint64
	// OutOfOrder: received after a greater sequence — a reordering.
	OutOfOrder []uint64
	// Unexpected: received but not among the expected sequences (not stored, not matching
	// the filter, or at or before the first cursor).
	Unexpected []uint64
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Duplicated) == 0 && len(r.OutOfOrder) == 0 && len(r.Unexpected) == 0
}

// String describes what is wrong, the first few sequences of each kind.
func (r Report) String() string {
	if r.OK() {
		return "ok"
	}
	var parts []string
	for _, k := range []struct {
		name string
		seqs []uint64
	}{{"missing", r.Missing}, {"duplicated", r.Duplicated}, {"out of order", r.OutOfOrder}, {"unexpected", r.Unexpected}} {
		if len(k.seqs) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s %v", len(k.seqs), k.name, first(k.seqs, 10)))
		}
	}
	return strings.Join(parts, "; ")
}

func first(s []uint64, n int) []uint64 { return s[:min(len(s), n)] }

// Received checks what a subscriber received (in the order it received it, across every
// reconnect) against want, the stored sequences it should have received, in store order.
func Received(got, want []uint64) Report {
	var r Report
	expected := make(map[uint64]bool, len(want))
	for _, s := range want {
		expected[s] = true
	}
	seen := make(map[uint64]bool, len(got))
	var greatest uint64
	for _, s := range got {
		switch {
		case seen[s]:
			r.Duplicated = append(r.Duplicated, s)
			continue
		case !expected[s]:
			r.Unexpected = append(r.Unexpected, s)
		case s < greatest:
			r.OutOfOrder = append(r.OutOfOrder, s)
		}
		seen[s] = true
		greatest = max(greatest, s)
	}
	for _, s := range want {
		if !seen[s] {
			r.Missing = append(r.Missing, s)
		}
	}
	return r
}

// Expected is the stored sequences a subscriber should receive: those after its first cursor
// whose event matches its filter, in store order. stored lists the store's sequences in
// order and match says whether the i-th matches.
func Expected(stored []uint64, after uint64, match func(i int) bool) []uint64 {
	var out []uint64
	for i, s := range stored {
		if s > after && match(i) {
			out = append(out, s)
		}
	}
	return out
}

// Acknowledged checks that every delivery answered 200 is stored exactly once, under the
// sequence it was answered with. acked maps a delivery's key (its provider event id, as
// stored) to the sequences its answers carried (a redelivery answered as a duplicate
// repeats the original); stored maps the same keys to the sequences of the events stored
// under them. A delivery whose answers disagree, or that is stored under another sequence,
// is reported as Unexpected (the sequences answered); one not stored as Missing; one stored
// more than once as Duplicated.
func Acknowledged(acked, stored map[string][]uint64) Report {
	var r Report
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		answers, kept := acked[k], stored[k]
		switch {
		case len(kept) == 0:
			r.Missing = append(r.Missing, answers[0])
		case len(kept) > 1:
			r.Duplicated = append(r.Duplicated, kept...)
		default:
			for _, a := range answers {
				if a != kept[0] {
					r.Unexpected = append(r.Unexpected, a)
				}
			}
		}
	}
	return r
}
