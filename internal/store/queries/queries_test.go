package queries

import (
	"math"
	"slices"
	"testing"
)

func TestPage(t *testing.T) {
	const q = "SELECT id FROM t WHERE a = $1"
	for _, tc := range []struct {
		name          string
		offset, limit int
		wantSQL       string
		wantArgs      []any
	}{
		{"whole list", 0, 0, q, []any{"a"}},
		{"negative offset and limit: whole list", -3, -1, q, []any{"a"}},
		{"first page", 0, 10, q + " LIMIT $2 OFFSET $3", []any{"a", int64(10), 0}},
		{"a later page", 20, 10, q + " LIMIT $2 OFFSET $3", []any{"a", int64(10), 20}},
		{"offset without limit: the largest integer bounds it", 5, 0, q + " LIMIT $2 OFFSET $3", []any{"a", int64(math.MaxInt64), 5}},
	} {
		sql, args := page(q, []any{"a"}, tc.offset, tc.limit)
		if sql != tc.wantSQL || !slices.Equal(args, tc.wantArgs) {
			t.Errorf("%s: page(offset %d, limit %d) = %q %v, want %q %v", tc.name, tc.offset, tc.limit, sql, args, tc.wantSQL, tc.wantArgs)
		}
	}
}

func TestLimitArg(t *testing.T) {
	for limit, want := range map[int]int64{-1: math.MaxInt64, 0: 0, 1: 1, 500: 500} {
		if got := limitArg(limit); got != want {
			t.Errorf("limitArg(%d) = %d, want %d", limit, got, want)
		}
	}
}
