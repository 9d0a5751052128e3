package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/livegate/livegate/internal/server"
)

// TestServeStoppedAtOnce: a server told to stop as it starts (a SIGTERM during start-up, a
// test that stops at once) shuts down cleanly: Serve returns nil, not the gRPC server's
// "has been stopped", whichever of its listeners had begun serving.
func TestServeStoppedAtOnce(t *testing.T) {
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := server.New(ctx, server.Config{
			HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", DataDir: t.TempDir(),
			IngestBase: testIngestBase, PlaybackBase: testPlaybackBase,
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		if err := srv.Serve(ctx); err != nil {
			t.Fatalf("Serve, stopped at once: %v", err)
		}
	}
}
