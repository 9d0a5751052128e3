//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the file in the data dir that `livegate serve` holds locked while it serves.
const LockName = "livegate.lock"

// LockDataDir takes the data dir for one `livegate serve`: an exclusive flock on its
// LockName (created, with this process's id in it, 0600; the dir too, 0700, if missing),
// held until the returned release is called or the process ends (the kernel frees it, after
// a crash too). A second server on the same SQLite database would learn of its own commits
// only: each one's live subscribers would silently miss the other's events (this stop's
// storage audit saw 391 holes in one stream). So a data dir already taken is an error naming
// the holder's process id. Other commands (apps create, rtmp nginx-conf) open the database
// beside a running server without it: they write no event a subscriber waits for.
func LockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create the data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open the data dir's lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who = "process " + pid
			}
			return nil, fmt.Errorf("the data dir %s is in use by another livegate serve (%s holds %s): two servers on one SQLite database would each miss the other's events in their live feeds; run one, or several on PostgreSQL (--database-url)", dir, who, LockName)
		}
		return nil, fmt.Errorf("sqlite: lock the data dir (%s): %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil // closing the file frees the lock
}
