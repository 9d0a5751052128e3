package sqlite

import (
	"database/sql"
	"fmt"
	"testing"
)

// A query run again while its own rows are still open (the cached statement is busy) gets a
// statement of its own: both iterations see every row, on the writer and on a reader.
func TestStatementRerunWhileItsRowsAreOpen(t *testing.T) {
	ctx := t.Context()
	s := openT(t, t.TempDir())
	for i := range 3 {
		if err := createLivestream(ctx, s, fmt.Sprintf("ls-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id FROM livestreams ORDER BY id`
	for _, c := range []struct {
		name string
		pool *sql.DB
	}{{"writer", s.w}, {"reader", s.r}} {
		name := c.name
		tx, err := c.pool.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the second time the statement comes from the cache.
		for round := range 2 {
			outer, err := tx.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for len(got) <= 3 && outer.Next() { // a reset outer statement would start over forever
				var id string
				if err := outer.Scan(&id); err != nil {
					t.Fatal(err)
				}
				inner, err := tx.QueryContext(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for inner.Next() {
					n++
				}
				if err := inner.Close(); err != nil {
					t.Fatal(err)
				}
				if n != 3 {
					t.Errorf("%s round %d: inner query saw %d rows, want 3", name, round, n)
				}
				got = append(got, id)
			}
			if err := outer.Err(); err != nil {
				t.Fatal(err)
			}
			outer.Close()
			if fmt.Sprint(got) != "[ls-0 ls-1 ls-2]" {
				t.Errorf("%s round %d: outer query saw %v, want [ls-0 ls-1 ls-2]", name, round, got)
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
}
