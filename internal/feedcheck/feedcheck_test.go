package feedcheck

import (
	"slices"
	"testing"
)

// The checker must catch each way a feed can break: a gap, a duplicate, a reordering, an
// event that should not have been sent; and pass exactly the right stream.
func TestReceived(t *testing.T) {
	want := []uint64{3, 5, 8, 9, 12}
	cases := []struct {
		name string
		got  []uint64
		want Report
	}{
		{"exact", []uint64{3, 5, 8, 9, 12}, Report{}},
		{"gap", []uint64{3, 5, 9, 12}, Report{Missing: []uint64{8}}},
		{"gap at the end", []uint64{3, 5, 8, 9}, Report{Missing: []uint64{12}}},
		{"nothing", nil, Report{Missing: want}},
		{"duplicate", []uint64{3, 5, 8, 8, 9, 12}, Report{Duplicated: []uint64{8}}},
		{"duplicate after a resume", []uint64{3, 5, 8, 5, 8, 9, 12}, Report{Duplicated: []uint64{5, 8}}},
		{"reordering", []uint64{3, 8, 5, 9, 12}, Report{OutOfOrder: []uint64{5}}},
		{"unexpected", []uint64{3, 4, 5, 8, 9, 12}, Report{Unexpected: []uint64{4}}},
		{"before the cursor", []uint64{1, 3, 5, 8, 9, 12}, Report{Unexpected: []uint64{1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Received(c.got, want)
			if !equal(got, c.want) {
				t.Errorf("Received(%v) = %+v, want %+v", c.got, got, c.want)
			}
			if got.OK() != c.want.OK() {
				t.Errorf("OK() = %v", got.OK())
			}
			if !got.OK() && got.String() == "ok" {
				t.Errorf("String() of a failing report says ok")
			}
		})
	}
}

func TestExpected(t *testing.T) {
	stored := []uint64{1, 2, 4, 7, 9}
	even := func(i int) bool { return stored[i]%2 == 0 }
	if got := Expected(stored, 2, even); !slices.Equal(got, []uint64{4}) {
		t.Errorf("Expected after 2, even = %v, want [4]", got)
	}
	if got := Expected(stored, 0, func(int) bool { return true }); !slices.Equal(got, stored) {
		t.Errorf("Expected after 0, all = %v", got)
	}
}

func TestAcknowledged(t *testing.T) {
	stored := map[string][]uint64{"a": {1}, "b": {2}, "c": {3, 4}}
	cases := []struct {
		name  string
		acked map[string][]uint64
		want  Report
	}{
		{"every delivery once", map[string][]uint64{"a": {1}, "b": {2, 2}}, Report{}},
		{"acknowledged, not stored", map[string][]uint64{"a": {1}, "z": {9}}, Report{Missing: []uint64{9}}},
		{"stored twice", map[string][]uint64{"c": {3}}, Report{Duplicated: []uint64{3, 4}}},
		{"answered another sequence", map[string][]uint64{"b": {2, 5}}, Report{Unexpected: []uint64{5}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Acknowledged(c.acked, stored); !equal(got, c.want) {
				t.Errorf("Acknowledged = %+v, want %+v", got, c.want)
			}
		})
	}
}

func equal(a, b Report) bool {
	return slices.Equal(a.Missing, b.Missing) && slices.Equal(a.Duplicated, b.Duplicated) &&
		slices.Equal(a.OutOfOrder, b.OutOfOrder) && slices.Equal(a.Unexpected, b.Unexpected)
}
