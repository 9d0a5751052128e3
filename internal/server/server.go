// Package server assembles livegate: the store, the gRPC server with its interceptors, the
// services, and the REST gateway that dials the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/livegate/livegate/gateway"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/nginxconf"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/services/analytics"
	"github.com/livegate/livegate/services/event"
	"github.com/livegate/livegate/services/livestream"
	"github.com/livegate/livegate/services/webhook"
)

// Config is what `livegate serve` is told.
type Config struct {
	// HTTPAddr is the REST gateway's listen address.
	HTTPAddr string
	// GRPCAddr is the gRPC server's listen address.
	GRPCAddr string
	// DataDir holds the SQLite database.
	DataDir string
	// IngestBase and PlaybackBase build livestream URLs (see livestream.URLs).
	IngestBase   string
	PlaybackBase string
	// ShutdownTimeout bounds the graceful part of shutdown; past it, connections are cut.
	ShutdownTimeout time.Duration
	// Retention is how much of the event feed to keep; zero keeps everything.
	Retention event.Retention
	// Feed tunes subscriptions (queue bounds, replay batches, progress interval, stall
	// timeout, subscription limits).
	Feed feed.Options
	// RTMPReconnectWindow: a publisher that reconnects within this long of disconnecting
	// continues its session (zero: projection.DefaultReconnectWindow; negative: never).
	RTMPReconnectWindow time.Duration
}

// Server is a running livegate: listening, not yet serving until Serve.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	hub   *feed.Hub
	// webhooks also reaps RTMP clients nginx-rtmp stopped reporting.
	webhooks *webhook.Server
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	conn     *grpc.ClientConn
	grpcLis  net.Listener
	httpLis  net.Listener
}

// New opens the store (applying migrations), listens on both addresses and builds the
// servers. Call Serve to serve, or Close to give everything back.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	db, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	s.store = db

	// The feed hub learns of every commit's events, in commit order, before the writers that
	// appended them are answered: nothing acknowledged is missing from a live subscription.
	var head uint64
	if err := db.View(ctx, func(r store.Reader) error {
		var err error
		head, _, err = r.FeedBounds(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read feed head: %w", err)
	}
	s.hub = feed.NewHub(head)
	s.hub.SetLogger(log)
	// Each event is decoded on its own: one that cannot be is counted, logged, and fails its
	// tenant's subscriptions loudly (before it) instead of costing anyone the rest.
	db.OnCommit(s.hub.PublishCommitted)

	unary, streams, err := interceptors(log, auth.NewAuthenticator(s.store))
	if err != nil {
		return nil, fmt.Errorf("build interceptors: %w", err)
	}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(streams...))
	urls := livestream.URLs{IngestBase: cfg.IngestBase, PlaybackBase: cfg.PlaybackBase}
	livegatev1.RegisterLivestreamServiceServer(s.grpc, livestream.NewServer(s.store, urls))
	livegatev1.RegisterAnalyticsServiceServer(s.grpc, analytics.NewServer(s.store))
	secret, err := rtmp.CallbackSecret(ctx, s.store)
	if err != nil {
		return nil, err
	}
	s.webhooks = webhook.NewServer(s.store, webhook.RTMP{
		Secret: secret,
		Ingest: projection.Ingest{
			ReconnectWindow: cfg.RTMPReconnectWindow,
			// Two missed on_update reports, and then some.
			StaleAfter: 3 * nginxconf.UpdateInterval,
		},
	})
	livegatev1.RegisterWebhookServiceServer(s.grpc, s.webhooks)
	livegatev1.RegisterEventServiceServer(s.grpc, event.NewServer(s.store, s.hub, cfg.Feed))
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen for gRPC on %s: %w", cfg.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	// The gateway is a gRPC client of this server, so both faces share one interceptor chain.
	s.conn, err = grpc.NewClient(dialTarget(s.grpcLis.Addr()), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial own gRPC server: %w", err)
	}
	handler, err := gateway.New(ctx, s.conn)
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// dialTarget turns a listen address into one to dial: a wildcard host (":9090") becomes
// loopback.
func dialTarget(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the address the REST gateway listens on.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Store is the server's store.
func (s *Server) Store() store.Store { return s.store }

// Serve serves both faces until ctx is done, then shuts down gracefully: health goes
// NOT_SERVING, HTTP stops taking requests and finishes those in flight, gRPC drains, and the
// store is closed. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	defer s.Close()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("livegate serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "data_dir", s.cfg.DataDir)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		s.cfg.Retention.Enforce(gctx, s.store, time.Minute, time.Now, func(err error) {
			s.log.Error("enforce event retention", "error", err)
		})
		return nil
	})
	g.Go(func() error {
		// Publishers and viewers whose done callback never came (nginx crashed, or livegate
		// was down) are accounted for once nginx-rtmp has not reported them for a while.
		t := time.NewTicker(nginxconf.UpdateInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
			n, err := s.webhooks.ReapRtmpClients(gctx)
			switch {
			case err != nil && gctx.Err() == nil:
				s.log.Error("reap stale RTMP clients", "error", err)
			case n > 0:
				s.log.Info("reaped stale RTMP clients", "count", n)
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("livegate shutting down")
		s.health.Shutdown()
		// Subscriptions end first, with UNAVAILABLE: clients resume from their cursor elsewhere
		// or after the restart. Then unary calls drain.
		s.hub.Shutdown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		herr := s.http.Shutdown(sctx)
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			s.grpc.Stop()
		}
		if herr != nil {
			return fmt.Errorf("shut down HTTP: %w", herr)
		}
		return nil
	})
	return g.Wait()
}

// Close releases what New acquired. Serve calls it; call it yourself only if Serve is not called.
func (s *Server) Close() {
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	for _, l := range []net.Listener{s.grpcLis, s.httpLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("close store", "error", err)
		}
		s.store = nil
	}
}
