package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

// appendOne writes one event, n bytes of body, into s.
func appendOne(t testing.TB, s *Store, key string, n int) error {
	t.Helper()
	return s.Update(context.Background(), func(w store.Writer) error {
		return w.AppendEvent(context.Background(), &store.Event{
			Tenant: store.Tenant{AccountID: "acc", AppID: "app"}, Source: "hms", Type: "t",
			DeliveryID: key, DedupeKey: key, ReceivedAt: time.Now(), Body: bytes.Repeat([]byte("x"), n),
		})
	})
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestFileModes: the data dir is created 0700 and the database, -wal and -shm are 0600,
// after Open and after a write; files left more open by an older version are narrowed.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, whatever the test runner's
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, FileName)
	check := func(when string) {
		t.Helper()
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("%s: data dir is %o, want 700", when, m)
		}
		for _, p := range []string{db, db + "-wal", db + "-shm"} {
			if m := mode(t, p); m != 0o600 {
				t.Errorf("%s: %s is %o, want 600", when, filepath.Base(p), m)
			}
		}
	}
	check("after Open")
	if err := appendOne(t, s, "k1", 10); err != nil {
		t.Fatal(err)
	}
	check("after a write")
	s.Close()

	// Files an older version made 0644 (and a careless operator 0666).
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil && !errors.Is(err, os.ErrExist) {
			if _, serr := os.Stat(p); serr != nil {
				continue
			}
		}
		_ = os.Chmod(p, 0o666)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err = Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("after reopening 0666 files")
	if err := appendOne(t, s, "k2", 10); err != nil {
		t.Fatal(err)
	}
	check("after a write on the reopened database")
}

// TestOpenFailsWhenNotWritable: a database that cannot be written fails Open, naming the
// path and the cause, instead of serving and failing every write. Root ignores permission
// bits, so the Opens run in a child process as nobody (uid 65534) when the test runs as
// root; otherwise as the current user. The conditions are real: a read-only data directory
// holding a database, a read-only database file, and a read-only empty directory.
func TestOpenFailsWhenNotWritable(t *testing.T) {
	if dir := os.Getenv("LIVEGATE_TEST_OPEN_DIR"); dir != "" {
		return // the child runs TestOpenChild only
	}
	// A directory everyone may enter, so that nobody reaches the data dirs and the binary.
	base, err := os.MkdirTemp("", "livegate-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		_ = os.RemoveAll(base)
	})
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "sqlite.test")
	copyFile(t, os.Args[0], bin, 0o755)

	existing := func(name string) string {
		d := filepath.Join(base, name)
		s, err := Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if err := appendOne(t, s, "k", 10); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Chmod(d, 0o755); err != nil { // enterable; readable by nobody below
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(d, FileName), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	roDir := existing("ro-dir")
	roFile := existing("ro-file")
	// A directory the opener may not write in, holding a database file it owns: SQLite
	// cannot create the -wal and -shm files next to it.
	roDirRWFile := existing("ro-dir-rw-file")
	if err := os.Chmod(filepath.Join(roDirRWFile, FileName), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(roDirRWFile, FileName), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	emptyRO := filepath.Join(base, "empty-ro")
	if err := os.Mkdir(emptyRO, 0o755); err != nil {
		t.Fatal(err)
	}
	asRoot := os.Geteuid() == 0
	if !asRoot {
		// The same conditions for the current user.
		for _, p := range []string{filepath.Join(roDir, FileName), filepath.Join(roFile, FileName)} {
			_ = os.Chmod(p, 0o444)
		}
		_ = os.Chmod(roDir, 0o555)
		_ = os.Chmod(roDirRWFile, 0o555)
		_ = os.Chmod(emptyRO, 0o555)
	} else {
		// nobody may write in none of them, but may write in roFile's directory.
		if err := os.Chmod(roFile, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{roDir, roFile, roDirRWFile, emptyRO} {
		cmd := exec.Command(bin, "-test.run=^TestOpenChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LIVEGATE_TEST_OPEN_DIR="+dir)
		if asRoot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, _ := cmd.CombinedOutput()
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "OPEN: ") {
				line = strings.TrimPrefix(l, "OPEN: ")
			}
		}
		t.Logf("%s: %s", filepath.Base(dir), line)
		if line == "" {
			t.Fatalf("%s: the child said nothing:\n%s", filepath.Base(dir), out)
		}
		if line == "ok" || !strings.Contains(line, filepath.Join(dir, FileName)) {
			t.Errorf("%s: Open gave %q, want an error naming %s", filepath.Base(dir), line, filepath.Join(dir, FileName))
		}
	}
}

// TestOpenChild is the child of TestOpenFailsWhenNotWritable: it opens the database in
// $LIVEGATE_TEST_OPEN_DIR, writes to it, and prints the outcome. Without the variable it
// does nothing.
func TestOpenChild(t *testing.T) {
	dir := os.Getenv("LIVEGATE_TEST_OPEN_DIR")
	if dir == "" {
		return
	}
	s, err := Open(context.Background(), dir)
	if err != nil {
		fmt.Printf("OPEN: %v\n", err)
		return
	}
	defer s.Close()
	if err := appendOne(t, s, fmt.Sprint(time.Now().UnixNano()), 10); err != nil {
		fmt.Printf("OPEN: ok (but the write failed: %v)\n", err)
		return
	}
	fmt.Printf("OPEN: ok\n")
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFullDatabase: writes past the database's size fail with STORAGE_UNAVAILABLE saying the
// database is full, and the store works again once there is room.
func TestFullDatabase(t *testing.T) {
	s := openT(t, t.TempDir())
	ctx := context.Background()
	n, err := s.PageCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMaxPageCount(ctx, n); err != nil {
		t.Fatal(err)
	}
	err = appendOne(t, s, "big", 64<<10)
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || !strings.Contains(ae.Message, "the database is full") {
		t.Fatalf("a write on a full database: %v", err)
	}
	if _, err := s.SetMaxPageCount(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(t, s, "big", 64<<10); err != nil {
		t.Fatalf("after making room: %v", err)
	}
}

// TestProbeWrite: Open's write probe fails, as STORAGE_UNAVAILABLE, on a connection that
// cannot write.
func TestProbeWrite(t *testing.T) {
	s := openT(t, t.TempDir())
	ctx := context.Background()
	if err := s.probeWrite(ctx); err != nil {
		t.Fatalf("probe on a writable database: %v", err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	defer s.w.ExecContext(ctx, `PRAGMA query_only = 0`) //nolint:errcheck
	var ae *apierror.Error
	if err := describe(s.probeWrite(ctx)); !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable {
		t.Fatalf("probe on a read-only connection: %v", err)
	}
}

// TestLockedAndCorruptAreUnavailable: a write that waited past the busy timeout for another
// process's lock, and a read of a corrupt database, are STORAGE_UNAVAILABLE (503) saying
// so, not an internal error (500). (The storage audit: 500 "internal error" for both.)
func TestLockedAndCorruptAreUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	for i := range 200 {
		if err := appendOne(t, s, fmt.Sprint("e", i), 2000); err != nil {
			t.Fatal(err)
		}
	}
	// Another process holds the write lock; this store's writer waits 100 ms for it.
	if _, err := s.w.ExecContext(ctx, `PRAGMA busy_timeout = 100`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	err = appendOne(t, s, "while-locked", 10)
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || ae.Metadata["kind"] != "locked" {
		t.Errorf("a write while another process holds the lock: %v, want STORAGE_UNAVAILABLE kind locked", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if _, err := s.w.ExecContext(ctx, `PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(t, s, "after-unlock", 10); err != nil {
		t.Fatalf("a write once the lock is free: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Ten pages of noise in the middle of the file, as a failing disk or a botched copy leaves.
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5, 0x5A, 0x3C}, 4096*10/3), 4096*50); err != nil {
		t.Fatal(err)
	}
	f.Close()
	broken, err := Open(ctx, dir)
	if err != nil {
		ae = nil
		if errors.As(err, &ae) && ae.Metadata["kind"] == "corrupt" {
			return // refused at start, saying why: as good
		}
		t.Fatalf("Open of a corrupt database: %v, want it to say corrupt", err)
	}
	defer broken.Close()
	err = broken.View(ctx, func(r store.Reader) error {
		_, err := r.EventsAfter(ctx, store.Tenant{AccountID: "acc", AppID: "app"}, 0, store.EventFilter{}, 1000)
		return err
	})
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || ae.Metadata["kind"] != "corrupt" {
		t.Errorf("reading a corrupt database: %v, want STORAGE_UNAVAILABLE kind corrupt", err)
	}
}

// TestFileRemovedRefusesWrites: with the database file moved away while the store runs,
// writes are refused (STORAGE_UNAVAILABLE, kind gone) within a second rather than committed
// to a file nothing will read again, HealthCheck says so, and both recover once the file is
// back. Until 2026-11-29 the storage audit's rm -rf of the data dir left 571 deliveries
// acknowledged and lost.
func TestFileRemovedRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if err := appendOne(t, s, "before", 10); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	aside := filepath.Join(t.TempDir(), FileName)
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fileCheckEvery + 100*time.Millisecond)
	err := appendOne(t, s, "while-gone", 10)
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Reason != apierror.ReasonStorageUnavailable || ae.Metadata["kind"] != "gone" || !strings.Contains(ae.Message, "was removed") {
		t.Errorf("a write with the database file gone: %v, want STORAGE_UNAVAILABLE kind gone", err)
	}
	if err := s.HealthCheck(context.Background()); err == nil || !strings.Contains(err.Error(), "was removed") {
		t.Errorf("HealthCheck with the file gone: %v", err)
	}
	if err := os.Rename(aside, path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fileCheckEvery + 100*time.Millisecond)
	if err := appendOne(t, s, "back", 10); err != nil {
		t.Errorf("a write once the file is back: %v", err)
	}
	if err := s.HealthCheck(context.Background()); err != nil {
		t.Errorf("HealthCheck once the file is back: %v", err)
	}
}

// TestUnwritable: which SQLite result codes mean the database cannot be written, and what
// an operator is told. A -shm that cannot grow (SQLITE_IOERR_SHMSIZE) is a full disk, as it
// was at start on one: it was reported as a failed disk (the operations audit).
func TestUnwritable(t *testing.T) {
	for _, c := range []struct {
		code       int
		kind, says string
	}{
		{sqlite3.SQLITE_IOERR_SHMSIZE, "full", "the disk is most likely full"},
		{sqlite3.SQLITE_FULL, "full", "full"},
		{sqlite3.SQLITE_IOERR, "io_error", "I/O error"},
		{sqlite3.SQLITE_IOERR_WRITE, "io_error", "I/O error"},
		{sqlite3.SQLITE_READONLY_DIRECTORY, "read_only", "read-only"},
		{sqlite3.SQLITE_BUSY, "locked", "locked"},
		{sqlite3.SQLITE_NOTADB, "corrupt", "corrupt"},
		{sqlite3.SQLITE_CONSTRAINT_UNIQUE, "", ""},
	} {
		why, kind := unwritable(c.code)
		if kind != c.kind || !strings.Contains(why, c.says) {
			t.Errorf("code %d: %q (%s), want %s saying %q", c.code, why, kind, c.kind, c.says)
		}
	}
}
