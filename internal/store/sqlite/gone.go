package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/livegate/livegate/internal/apierror"
)

// The database file, gone
//
// A database file removed (rm -rf of the data dir) or replaced by another file (mv over it,
// removed and made again) while livegate runs goes on working for the connections that have
// it open (the same inode: a file copied over it in place is not seen): SQLite writes
// to the unlinked file, commits, and livegate answered 200 for deliveries nothing will ever
// read again (the storage audit: 571 deliveries acknowledged after an rm -rf, all lost, /readyz
// ok). So the committer checks, at most once every fileCheckEvery, that the path still names
// the file it opened; when it does not, every write is refused, STORAGE_UNAVAILABLE (kind
// gone), and /readyz says so (HealthCheck), until the file is back (renamed back: the same
// file) or livegate is restarted.

// fileCheckEvery bounds how often the committer looks at the database file: a stat costs
// about a microsecond, a batch's commit a millisecond or more.
const fileCheckEvery = time.Second

// fileGone returns STORAGE_UNAVAILABLE when the database's path no longer names the file
// opened (s.opened), else nil.
func (s *Store) fileGone() error {
	fi, err := os.Stat(s.path)
	switch {
	case err == nil && os.SameFile(fi, s.opened):
		return nil
	case err == nil:
		return apierror.New(apierror.ReasonStorageUnavailable,
			"the database file %s was replaced while livegate ran: it refuses writes that would go to the old one; restart it to serve the new one", s.path).With("kind", "gone")
	case errors.Is(err, fs.ErrNotExist):
		return apierror.New(apierror.ReasonStorageUnavailable,
			"the database file %s was removed while livegate ran: it refuses writes nothing could read again; put it back, or restart livegate on a restored one", s.path).With("kind", "gone")
	}
	return apierror.New(apierror.ReasonStorageUnavailable, "the database file %s cannot be checked: %v", s.path, err).With("kind", "gone")
}

// checkFileEvery is fileGone, looked at no more than once every fileCheckEvery (the
// committer's: only its goroutine calls it).
func (s *Store) checkFileEvery(now time.Time) error {
	if now.Sub(s.fileChecked) >= fileCheckEvery {
		s.fileChecked, s.fileErr = now, s.fileGone()
	}
	return s.fileErr
}

// HealthCheck reports a database file removed or replaced since Open (/readyz asks).
func (s *Store) HealthCheck(context.Context) error { return s.fileGone() }
