package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/store/sqlite"
)

func TestRTMPNginxConf(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	hls := filepath.Join(t.TempDir(), "hls")
	base := []string{"rtmp", "nginx-conf", "--data-dir", dataDir, "--hls-dir", hls}
	// A link to the data dir's parent: a way into the data dir under another name.
	linkToData := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Dir(dataDir), linkToData); err != nil {
		t.Fatal(err)
	}
	linkToData = filepath.Join(linkToData, "data")

	// Bad flags: an error naming the flag, and nothing created.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rtmp", "nginx-conf", "--data-dir", dataDir}, "--hls-dir: is required"},
		{append(base, "--hls-dir", "relative/hls"), "--hls-dir: must be an absolute path"},
		{append(base, "--livegate-url", "https://livegate:8080"), "--livegate-url: nginx-rtmp calls back over plain HTTP only"},
		{append(base, "--rtmp-listen", "1935;"), "--rtmp-listen"},
		{append(base, "--user", "a b"), "--user"},
		{append(base, "extra"), `unexpected argument "extra"`},
		// nginx would chown the data dir, or the HLS directory would hold it.
		{append(base, "--hls-dir", dataDir), "--hls-dir: " + strconv.Quote(dataDir) + " overlaps the data dir"},
		{append(base, "--hls-dir", filepath.Join(dataDir, "hls")), "overlaps the data dir"},
		{append(base, "--hls-dir", filepath.Join(dataDir, "a", "..", "..", "data", "hls")), "overlaps the data dir"},
		{append(base, "--hls-dir", filepath.Dir(dataDir)), "overlaps the data dir"},
		{append(base, "--hls-dir", linkToData+"/hls"), "overlaps the data dir"},
		{[]string{"rtmp"}, `"rtmp" needs a subcommand: nginx-conf`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed a configuration despite the error:\n%s", tc.args, stdout.String())
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("bad flags created the data dir: %v", err)
	}

	// Good flags: the configuration carries the installation's callback secret, made on
	// first use and the same on every run.
	var first, second bytes.Buffer
	for _, out := range []*bytes.Buffer{&first, &second} {
		var stderr bytes.Buffer
		if err := run(context.Background(), base, out, &stderr); err != nil {
			t.Fatalf("nginx-conf: %v\n%s", err, stderr.String())
		}
	}
	if first.String() != second.String() {
		t.Error("two runs on the same data printed different configurations")
	}
	db, err := sqlite.Open(context.Background(), dataDir)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := rtmp.CallbackSecret(context.Background(), db)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "/rtmp/"+secret+"/on_publish;") {
		t.Errorf("the configuration does not call back with the stored secret %q:\n%s", secret, first.String())
	}

	// --out: the same configuration, in a file only its owner can read.
	out := filepath.Join(t.TempDir(), "nginx.conf")
	if err := run(context.Background(), append(base, "--out", out), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != first.String() {
		t.Error("--out wrote something else than stdout gets")
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("--out file mode %v, want 0600 (it holds the callback secret)", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("--out left files beside the configuration: %v", entries)
	}
}
