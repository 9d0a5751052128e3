//go:build !unix

package sqlite

// LockName is the file in the data dir that `livegate serve` holds locked while it serves.
const LockName = "livegate.lock"

// LockDataDir takes nothing where flock is not available: the data dir is not guarded
// against a second server (see lock_unix.go).
func LockDataDir(string) (release func(), err error) { return func() {}, nil }
