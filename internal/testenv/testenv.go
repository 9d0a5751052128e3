// Package testenv finds the real programs livegate's tests run beside it (nginx with the
// RTMP module, ffmpeg). A missing program fails the test, never skips it: a test that skips
// is a test that does not run. `.ci/run` installs them (Debian: nginx libnginx-mod-rtmp
// ffmpeg).
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RTMPModule is where Debian's libnginx-mod-rtmp installs the nginx RTMP module.
const RTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// LookPath returns the path of the program name, or fails t saying how to install it.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not installed (%v); on Debian: apt-get install -y nginx libnginx-mod-rtmp ffmpeg, or run bash scripts/test.sh", name, err)
	}
	return path
}

// NginxRTMP returns the nginx binary and the RTMP module's path, or fails t.
func NginxRTMP(t testing.TB) (nginx, module string) {
	t.Helper()
	nginx = LookPath(t, "nginx")
	if _, err := os.Stat(RTMPModule); err != nil {
		t.Fatalf("the nginx RTMP module is needed by this test and is not installed (%v); on Debian: apt-get install -y libnginx-mod-rtmp", err)
	}
	return nginx, RTMPModule
}
