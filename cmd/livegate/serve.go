package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/livegate/livegate/internal/server"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	httpAddr := envString(fs, "http-addr", "LIVEGATE_HTTP_ADDR", ":8080", "REST gateway listen address")
	grpcAddr := envString(fs, "grpc-addr", "LIVEGATE_GRPC_ADDR", ":9090", "gRPC listen address")
	dataDir := envString(fs, "data-dir", "LIVEGATE_DATA_DIR", "./data", "directory of the embedded SQLite database")
	ingest := envString(fs, "ingest-base", "LIVEGATE_INGEST_BASE", "rtmp://localhost:1935/live", "RTMP URL returned as ingest_server")
	playback := envString(fs, "playback-base", "LIVEGATE_PLAYBACK_BASE", "http://localhost:8081/hls", "HLS base URL; playback_url is <base>/<livestream id>/index.m3u8")
	logLevel := envString(fs, "log-level", "LIVEGATE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = *httpAddr, *grpcAddr, *dataDir
	cfg.IngestBase, cfg.PlaybackBase = *ingest, *playback

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
