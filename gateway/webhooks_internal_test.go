package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/livegate/livegate/internal/metrics"
)

// TestReadDeclared: a declared body is read whole, at or under readChunk and over it (in
// pieces as they arrive), and one that ends short or fails is an error.
func TestReadDeclared(t *testing.T) {
	for _, n := range []int{1, 600, readChunk, readChunk + 1, 300 << 10, MaxBodyBytes} {
		want := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		got, err := readDeclared(iotest.HalfReader(bytes.NewReader(want)), n)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
	for _, n := range []int{600, 300 << 10} {
		if _, err := readDeclared(bytes.NewReader(make([]byte, n-1)), n); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d declared, %d sent: %v, want io.ErrUnexpectedEOF", n, n-1, err)
		}
		boom := errors.New("boom")
		if _, err := readDeclared(io.MultiReader(bytes.NewReader(make([]byte, n/2)), iotest.ErrReader(boom)), n); !errors.Is(err, boom) {
			t.Errorf("%d declared, failing half way: %v, want the reader's error", n, err)
		}
	}
}

// TestDeliverySource: only a path of a provider route's exact shape counts as a delivery in
// the metrics when it is refused before routing (a body too large). The tenant and
// observability audit sent 20 oversized bodies each to /nothing/here/N/webhooks/100ms and
// /rtmp/zzz, unauthenticated, and both counted as refused 100ms and RTMP deliveries.
func TestDeliverySource(t *testing.T) {
	for path, want := range map[string]string{
		"/accounts/a/realtime/kit/b/webhooks/100ms":   metrics.SourceHMS,
		"/accounts/a/realtime/kit/b/webhooks/amity":   metrics.SourceAmity,
		"/rtmp/s3cr3t/on_publish":                     metrics.SourceRTMP,
		"/nothing/here/1/webhooks/100ms":              "",
		"/accounts/a/realtime/kit//webhooks/100ms":    "",
		"/x/accounts/a/realtime/kit/b/webhooks/100ms": "",
		"/rtmp/zzz":                              "",
		"/rtmp/s/on_publish/extra":               "",
		"/rtmp//on_publish":                      "",
		"/accounts/a/realtime/kit/b/livestreams": "",
	} {
		if got := deliverySource(path); got != want {
			t.Errorf("deliverySource(%q) = %q, want %q", path, got, want)
		}
	}
}
