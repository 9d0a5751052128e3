package outbound

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestAnswerHeadersBounded: a receiver that answers with endless header lines (up to 16
// MiB, past net/http's own 10 MiB default) makes the attempt fail, retried, with an error
// saying the headers were too large, after reading about 64 KiB of them, not megabytes.
func TestAnswerHeadersBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var written atomic.Int64
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		// Read the request's head, then answer with header lines that never end.
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		w := bufio.NewWriterSize(conn, 64<<10)
		n, _ := w.WriteString("HTTP/1.1 200 OK\r\n")
		written.Add(int64(n))
		pad := strings.Repeat("x", 1000)
		for i := 0; written.Load() < 16<<20; i++ {
			n, err := fmt.Fprintf(w, "X-Pad-%d: %s\r\n", i, pad)
			written.Add(int64(n))
			if err != nil {
				return // the client hung up
			}
		}
		_ = w.Flush()
	}()

	c := newClient(allowLocal, 10*time.Second, 4, "x")
	defer c.close()
	var read atomic.Int64
	tr := c.http.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: conn, n: &read}, nil
	}

	start := time.Now()
	res := postTo(t, c, "http://"+l.Addr().String()+"/")
	took := time.Since(start)
	if res.ok() || !res.retry || res.status != 0 || !strings.Contains(res.err, "headers exceeded 65536 bytes") {
		t.Errorf("an answer with endless headers: got status %d retry=%v err %q, want a retried failure saying the headers exceeded 65536 bytes", res.status, res.retry, res.err)
	}
	if n := read.Load(); n > 128<<10 {
		t.Errorf("read %d bytes of the answer's headers, want at most about 64 KiB", n)
	}
	if took > 5*time.Second {
		t.Errorf("the attempt took %s, want it to fail at once", took)
	}
	t.Logf("read %d bytes in %s; the receiver wrote %d before it saw the hang-up: %s", read.Load(), took.Round(time.Millisecond), written.Load(), res.err)
	l.Close()
	<-served
}
