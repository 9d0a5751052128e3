package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"unicode"

	"strconv"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"

	"github.com/livegate/livegate/gateway"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store/postgres"
	"github.com/livegate/livegate/internal/telemetry"
)

func serve(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("livegate serve", flag.ContinueOnError)
	defer func() { err = fromEnv(fs, err) }()
	fs.SetOutput(stderr)
	var cfg server.Config
	httpAddr := envString(fs, "http-addr", "LIVEGATE_HTTP_ADDR", ":8080", "REST gateway listen address")
	grpcAddr := envString(fs, "grpc-addr", "LIVEGATE_GRPC_ADDR", ":9090", "gRPC listen address")
	adminAddr := adminAddrFlag(fs)
	dataDir := envString(fs, "data-dir", "LIVEGATE_DATA_DIR", "./data", "directory of the embedded SQLite database")
	databaseURL := databaseFlag(fs)
	databaseListen := envString(fs, "database-listen", "LIVEGATE_DATABASE_LISTEN", "true", "with --database-url: wake on PostgreSQL LISTEN/NOTIFY besides polling every second; false: poll only (for a proxy that does not pass LISTEN on)")
	clockOffset := envString(fs, "max-clock-offset", "LIVEGATE_MAX_CLOCK_OFFSET", postgres.DefaultMaxClockOffset.String(), "with --database-url: refuse writes (503) while this node's clock differs from the database's by more than this; 0: no check")
	ingest := envString(fs, "ingest-base", "LIVEGATE_INGEST_BASE", "rtmp://localhost:1935/live", "RTMP URL returned as ingest_server")
	playback := envString(fs, "playback-base", "LIVEGATE_PLAYBACK_BASE", "http://localhost:8081/hls", "HLS base URL; playback_url is <base>/<livestream id>/index.m3u8")
	logLevel := envString(fs, "log-level", "LIVEGATE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	maxAge := envString(fs, "retention-max-age", "LIVEGATE_RETENTION_MAX_AGE", "0", "delete feed events older than this (e.g. 720h); 0 keeps them")
	maxEvents := envString(fs, "retention-max-events", "LIVEGATE_RETENTION_MAX_EVENTS", "0", "keep at most this many feed events (the newest); 0 keeps all")
	reconnect := envString(fs, "rtmp-reconnect-window", "LIVEGATE_RTMP_RECONNECT_WINDOW", "30s", "an RTMP publisher that reconnects within this long continues its session; 0 never does")
	limits := limitFlags(fs)
	subsPerApp := envString(fs, "max-subscriptions-per-app", "LIVEGATE_MAX_SUBSCRIPTIONS_PER_APP", strconv.Itoa(feed.DefaultMaxPerApp), "live event subscriptions (gRPC, NDJSON, SSE) one app may hold at once; -1: no limit")
	subsTotal := envString(fs, "max-subscriptions", "LIVEGATE_MAX_SUBSCRIPTIONS", strconv.Itoa(feed.DefaultMaxSubscriptions), "live event subscriptions the server holds at once; -1: no limit")
	stall := envString(fs, "subscriber-stall-timeout", "LIVEGATE_SUBSCRIBER_STALL_TIMEOUT", feed.DefaultStallTimeout.String(), "end a subscription (gRPC, NDJSON, SSE) whose client has not read for this long (it resumes from its cursor)")
	queueBytes := envString(fs, "subscriber-queue-bytes", "LIVEGATE_SUBSCRIBER_QUEUE_BYTES", strconv.Itoa(feed.DefaultQueueBytes), "bytes of live events queued per subscriber before it falls back to reading the store")
	replayBytes := envString(fs, "subscriber-replay-bytes", "LIVEGATE_SUBSCRIBER_REPLAY_BYTES", strconv.Itoa(feed.DefaultReplayBytes), "bytes of stored events one replay read holds per subscriber (at least one event)")
	adminTokenFile := envString(fs, "admin-token-file", "LIVEGATE_ADMIN_TOKEN_FILE", "", "file of operator tokens (one a line, at least 32 characters each) that authenticate the admin API (AdminService, REST /admin/v1/...); empty: the admin API is off")
	trustedProxies := envString(fs, "trusted-proxies", "LIVEGATE_TRUSTED_PROXIES", "", "comma-separated IP addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For names the client in the access log; empty: none")
	corsOrigins := envString(fs, "cors-origins", "LIVEGATE_CORS_ORIGINS", "", "comma-separated origins (scheme://host[:port], *.host allowed, or *) whose browser pages may call the REST API and the SSE feed; empty: CORS off, same-origin only")
	webhooksOut := webhooksOutFlags(fs)
	webhooksDelivery := webhooksDeliveryFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: must be debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	logLibraries(log)
	ctx, stopOnHUP := stopOnHangup(ctx, log)
	defer stopOnHUP()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = *httpAddr, *grpcAddr, *dataDir
	cfg.AdminAddr = *adminAddr
	cfg.DatabaseURL = *databaseURL
	listen, err := strconv.ParseBool(*databaseListen)
	if err != nil {
		return fmt.Errorf("--database-listen %q: must be true or false", *databaseListen)
	}
	cfg.DatabasePollOnly = !listen
	if cfg.MaxClockOffset, err = time.ParseDuration(*clockOffset); err != nil || cfg.MaxClockOffset < 0 {
		return fmt.Errorf("--max-clock-offset %q: must be a duration such as 1m, or 0", *clockOffset)
	}
	if cfg.MaxClockOffset == 0 {
		cfg.MaxClockOffset = -1 // server.Config's "no check"
	}
	if err := checkBase("ingest-base", *ingest, "rtmp", "rtmps"); err != nil {
		return err
	}
	if err := checkBase("playback-base", *playback, "http", "https"); err != nil {
		return err
	}
	cfg.IngestBase, cfg.PlaybackBase = *ingest, *playback
	if cfg.Retention.MaxAge, err = time.ParseDuration(*maxAge); err != nil || cfg.Retention.MaxAge < 0 {
		return fmt.Errorf("--retention-max-age %q: must be a duration such as 720h, or 0", *maxAge)
	}
	if cfg.Retention.MaxEvents, err = strconv.ParseUint(*maxEvents, 10, 64); err != nil {
		return fmt.Errorf("--retention-max-events %q: must be a whole number, or 0", *maxEvents)
	}
	if cfg.RTMPReconnectWindow, err = time.ParseDuration(*reconnect); err != nil || cfg.RTMPReconnectWindow < 0 {
		return fmt.Errorf("--rtmp-reconnect-window %q: must be a duration such as 30s, or 0", *reconnect)
	}
	if cfg.RTMPReconnectWindow == 0 {
		cfg.RTMPReconnectWindow = -1 // server.Config's "never"
	}
	if cfg.Limits, err = limits(); err != nil {
		return err
	}
	if cfg.WebhooksOut, err = webhooksOut(); err != nil {
		return err
	}
	if cfg.WebhooksOut.Delivery, err = webhooksDelivery(); err != nil {
		return err
	}

	if cfg.Feed.StallTimeout, err = time.ParseDuration(*stall); err != nil || cfg.Feed.StallTimeout <= 0 {
		return fmt.Errorf("--subscriber-stall-timeout %q: must be a positive duration such as 30s", *stall)
	}
	for _, v := range []struct {
		flag, value string
		min         int
		to          *int
	}{
		{"max-subscriptions-per-app", *subsPerApp, -1, &cfg.Feed.MaxPerApp},
		{"max-subscriptions", *subsTotal, -1, &cfg.Feed.MaxSubscriptions},
		{"subscriber-queue-bytes", *queueBytes, 1, &cfg.Feed.QueueBytes},
		{"subscriber-replay-bytes", *replayBytes, 1, &cfg.Feed.ReplayBytes},
	} {
		n, err := strconv.Atoi(v.value)
		if err != nil || n == 0 || n < v.min {
			return fmt.Errorf("--%s %q: must be a positive whole number%s", v.flag, v.value, map[bool]string{true: ", or -1 for no limit"}[v.min < 0])
		}
		*v.to = n
	}

	if *adminTokenFile != "" {
		if cfg.AdminTokens, err = auth.ReadOperatorTokens(*adminTokenFile); err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
		if _, err := auth.NewOperators(cfg.AdminTokens); err != nil {
			return fmt.Errorf("--admin-token-file %s: %w", *adminTokenFile, err)
		}
	}
	if cfg.TrustedProxies, err = accesslog.ParseProxies(*trustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if cfg.CORSOrigins, err = gateway.ParseCORSOrigins(*corsOrigins); err != nil {
		return fmt.Errorf("--cors-origins: %w", err)
	}
	// Tracing is configured by the standard OTEL_* variables alone (see internal/telemetry).
	if cfg.Tracing, err = telemetry.FromEnv(ctx); err != nil {
		return err
	}
	defer func() {
		// Spans still buffered are sent once the servers have stopped.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := cfg.Tracing.Shutdown(fctx); err != nil {
			log.Error("flush traces", "error", err)
		}
	}()
	if cfg.Tracing.Enabled() {
		log.Info("OpenTelemetry tracing on")
	}

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// limitFlags declares a flag (and env var) per server.Limits field, defaulting to
// server.DefaultLimits; the returned function parses them once the flags are parsed. A
// negative value turns a limit off.
func limitFlags(fs *flag.FlagSet) func() (server.Limits, error) {
	def := server.DefaultLimits()
	var parse []func(*server.Limits) error
	dur := func(name, env string, d time.Duration, help string, field func(*server.Limits) *time.Duration) {
		v := envString(fs, name, env, d.String(), help+"; negative: no limit")
		parse = append(parse, func(l *server.Limits) error {
			d, err := time.ParseDuration(*v)
			if err != nil || d == 0 {
				return fmt.Errorf("--%s %q: must be a non-zero duration such as 30s (a negative duration such as -1s: no limit)", name, *v)
			}
			*field(l) = d
			return nil
		})
	}
	count := func(name, env string, n int, help string, field func(*server.Limits) *int) {
		v := envString(fs, name, env, strconv.Itoa(n), help+"; negative: no limit")
		parse = append(parse, func(l *server.Limits) error {
			n, err := strconv.Atoi(*v)
			if err != nil || n == 0 {
				return fmt.Errorf("--%s %q: must be a non-zero whole number (negative: no limit)", name, *v)
			}
			*field(l) = n
			return nil
		})
	}
	dur("http-read-header-timeout", "LIVEGATE_HTTP_READ_HEADER_TIMEOUT", def.HTTPReadHeaderTimeout, "longest time to read an HTTP request's headers",
		func(l *server.Limits) *time.Duration { return &l.HTTPReadHeaderTimeout })
	dur("http-read-timeout", "LIVEGATE_HTTP_READ_TIMEOUT", def.HTTPReadTimeout, "longest time to read a whole HTTP request, body included (a stalled upload is cut)",
		func(l *server.Limits) *time.Duration { return &l.HTTPReadTimeout })
	dur("http-write-timeout", "LIVEGATE_HTTP_WRITE_TIMEOUT", def.HTTPWriteTimeout, "longest time to write an HTTP response (event streams use --subscriber-stall-timeout)",
		func(l *server.Limits) *time.Duration { return &l.HTTPWriteTimeout })
	dur("http-idle-timeout", "LIVEGATE_HTTP_IDLE_TIMEOUT", def.HTTPIdleTimeout, "close keep-alive HTTP connections idle this long",
		func(l *server.Limits) *time.Duration { return &l.HTTPIdleTimeout })
	count("http-max-header-bytes", "LIVEGATE_HTTP_MAX_HEADER_BYTES", def.HTTPMaxHeaderBytes, "largest HTTP request header block",
		func(l *server.Limits) *int { return &l.HTTPMaxHeaderBytes })
	count("http-max-body-bytes-in-flight", "LIVEGATE_HTTP_MAX_BODY_BYTES_IN_FLIGHT", def.HTTPMaxBodyBytesInFlight, "request body bytes being received at once, all clients together (more get 429 with Retry-After)",
		func(l *server.Limits) *int { return &l.HTTPMaxBodyBytesInFlight })
	count("http-max-body-bytes-in-flight-per-client", "LIVEGATE_HTTP_MAX_BODY_BYTES_IN_FLIGHT_PER_CLIENT", def.HTTPMaxBodyBytesInFlightPerClient, "request body bytes being received at once from one client address, its X-Forwarded-For client behind --trusted-proxies (more get 429 with Retry-After)",
		func(l *server.Limits) *int { return &l.HTTPMaxBodyBytesInFlightPerClient })
	count("http-max-conns", "LIVEGATE_HTTP_MAX_CONNS", def.MaxHTTPConns, "most concurrent HTTP connections (more wait to be accepted)",
		func(l *server.Limits) *int { return &l.MaxHTTPConns })
	count("grpc-max-conns", "LIVEGATE_GRPC_MAX_CONNS", def.MaxGRPCConns, "most concurrent gRPC connections (more wait to be accepted)",
		func(l *server.Limits) *int { return &l.MaxGRPCConns })
	count("http-max-conns-per-client", "LIVEGATE_HTTP_MAX_CONNS_PER_CLIENT", def.HTTPMaxConnsPerClient, "most concurrent HTTP connections from one client address, an IPv6 /64 (more are answered 429 and closed; --trusted-proxies are exempt)",
		func(l *server.Limits) *int { return &l.HTTPMaxConnsPerClient })
	count("grpc-max-conns-per-client", "LIVEGATE_GRPC_MAX_CONNS_PER_CLIENT", def.GRPCMaxConnsPerClient, "most concurrent gRPC connections from one client address, an IPv6 /64 (more are closed at once; --trusted-proxies are exempt)",
		func(l *server.Limits) *int { return &l.GRPCMaxConnsPerClient })
	count("grpc-max-streams-per-conn", "LIVEGATE_GRPC_MAX_STREAMS_PER_CONN", def.GRPCMaxStreamsPerConn, "most concurrent calls on one gRPC connection (more wait for a free stream)",
		func(l *server.Limits) *int { return &l.GRPCMaxStreamsPerConn })
	count("grpc-max-recv-bytes", "LIVEGATE_GRPC_MAX_RECV_BYTES", def.GRPCMaxRecvBytes, "largest gRPC request message",
		func(l *server.Limits) *int { return &l.GRPCMaxRecvBytes })
	count("grpc-max-header-bytes", "LIVEGATE_GRPC_MAX_HEADER_BYTES", def.GRPCMaxHeaderBytes, "largest gRPC call metadata (its header list, uncompressed)",
		func(l *server.Limits) *int { return &l.GRPCMaxHeaderBytes })
	dur("grpc-keepalive-min-time", "LIVEGATE_GRPC_KEEPALIVE_MIN_TIME", def.GRPCKeepaliveMinTime, "disconnect gRPC clients that ping more often than this",
		func(l *server.Limits) *time.Duration { return &l.GRPCKeepaliveMinTime })
	dur("grpc-keepalive-time", "LIVEGATE_GRPC_KEEPALIVE_TIME", def.GRPCKeepaliveTime, "ping a gRPC connection silent this long",
		func(l *server.Limits) *time.Duration { return &l.GRPCKeepaliveTime })
	dur("grpc-keepalive-timeout", "LIVEGATE_GRPC_KEEPALIVE_TIMEOUT", def.GRPCKeepaliveTimeout, "close a gRPC connection whose ping is not answered within this",
		func(l *server.Limits) *time.Duration { return &l.GRPCKeepaliveTimeout })
	dur("grpc-max-conn-idle", "LIVEGATE_GRPC_MAX_CONN_IDLE", def.GRPCMaxConnIdle, "close a gRPC connection without a call for this long",
		func(l *server.Limits) *time.Duration { return &l.GRPCMaxConnIdle })
	dur("grpc-request-timeout", "LIVEGATE_GRPC_REQUEST_TIMEOUT", def.GRPCRequestTimeout, "end a unary gRPC call whose request message has not arrived within this long of its headers",
		func(l *server.Limits) *time.Duration { return &l.GRPCRequestTimeout })
	dur("grpc-handshake-timeout", "LIVEGATE_GRPC_HANDSHAKE_TIMEOUT", def.GRPCHandshakeTimeout, "close a new gRPC connection that has not sent its HTTP/2 preface and settings within this",
		func(l *server.Limits) *time.Duration { return &l.GRPCHandshakeTimeout })
	return func() (server.Limits, error) {
		l := def
		for _, p := range parse {
			if err := p(&l); err != nil {
				return l, err
			}
		}
		return l, nil
	}
}

// logLibraries sends what libraries log on their own through log, as JSON lines like
// livegate's: the standard logger's lines (at WARN), OpenTelemetry's internal logger, and its
// error handler (the trace exporter's failures, at WARN). The exporter's failures were
// plain-text lines among the JSON ones, every 5 s while a collector was down (the operations
// audit).
func logLibraries(log *slog.Logger) {
	slog.SetDefault(log)
	slog.SetLogLoggerLevel(slog.LevelWarn)
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("OpenTelemetry", "error", err)
	}))
}

// checkBase refuses a base URL (--ingest-base, --playback-base) that clients could not use:
// one of another scheme, without a host, or with a query, fragment or credentials. Every
// livestream's ingest_server and playback_url is made of it (the operations audit started
// with "rtmp//live.example.com/live/" and "htps:/cdn example.com/hls/", and livestreams
// answered them as they were).
func checkBase(flag, v string, schemes ...string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return fmt.Errorf("--%s %q: not a URL: %v", flag, v, err)
	case !slices.Contains(schemes, u.Scheme):
		return fmt.Errorf("--%s %q: must be a %s URL such as %s://host/path", flag, v, strings.Join(schemes, " or "), schemes[0])
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("--%s %q: names no host", flag, v)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(v, "?#") || u.User != nil || u.Opaque != "":
		return fmt.Errorf("--%s %q: must have no query, fragment or credentials", flag, v)
	case strings.ContainsFunc(v, unicode.IsSpace):
		return fmt.Errorf("--%s %q: holds a space", flag, v)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("--%s %q: port %s is not from 1 to 65535", flag, v, p)
		}
	}
	return nil
}

// stopOnHangup returns ctx, canceled on SIGHUP too, with a line saying so: serve stops as
// for SIGTERM, gracefully. livegate reads its configuration at start and has nothing to
// reload; without this a SIGHUP (a closing terminal, a script expecting a reload) killed it
// at once, with no graceful stop and no line (the operations audit).
//
// A serve started with SIGHUP ignored (nohup) keeps ignoring it: asking for the signal would
// undo that, and the hangup nohup is there for would stop it.
func stopOnHangup(ctx context.Context, log *slog.Logger) (context.Context, func()) {
	if signal.Ignored(syscall.SIGHUP) {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		select {
		case <-hup:
			log.Warn("SIGHUP: livegate has nothing to reload (it reads its configuration at start); stopping as for SIGTERM")
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(hup)
		cancel()
	}
}
