package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
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
