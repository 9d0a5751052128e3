package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/livegate/livegate/internal/metrics"
)

// defaultAdminAddr is the admin listener's default address (serve's --admin-addr).
const defaultAdminAddr = "127.0.0.1:9091"

// adminAddrFlag defines --admin-addr (env LIVEGATE_ADMIN_ADDR), shared by serve and health.
func adminAddrFlag(fs *flag.FlagSet) *string {
	return envString(fs, "admin-addr", "LIVEGATE_ADMIN_ADDR", defaultAdminAddr,
		"admin listener address: /metrics, /livez, /readyz, /debug/pprof/ (empty: none); :9091 serves every interface")
}

// exitError ends the command with its exit code, after its message (if any) on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// health asks a running livegate's /readyz (on its admin listener) whether it is ready:
// exit 0 if it answers 200, 1 otherwise, with the reason on stderr. It needs no shell and
// no curl, so a container healthcheck on a distroless image can run it.
func health(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := adminAddrFlag(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("--admin-addr is empty: the admin listener is off, so there is nothing to ask")
	}
	url := "http://" + dialable(*addr) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("livegate is not ready: %v", err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("livegate is not ready (%s): %s", resp.Status, text)}
	}
	fmt.Fprintln(stdout, text)
	return nil
}

// dialable turns a listen address into one to dial: an empty or unspecified host (":9091",
// "0.0.0.0:9091", "[::]:9091") is this machine's loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// version prints livegate's version, the commit it was built from and the Go version.
func version(stdout io.Writer) error {
	v, commit := metrics.Build()
	fmt.Fprintf(stdout, "livegate %s\ncommit %s\ngo %s\n", v, commit, runtime.Version())
	return nil
}
