// Package server assembles livegate: the store, the gRPC server with its interceptors, the
// services, and the REST gateway that dials the gRPC server.
package server

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/livegate/livegate/gateway"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/inproc"
	"github.com/livegate/livegate/internal/interceptors"
	"github.com/livegate/livegate/internal/metrics"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/nginxconf"
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/rawcodec"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/telemetry"
	"github.com/livegate/livegate/services/admin"
	"github.com/livegate/livegate/services/analytics"
	"github.com/livegate/livegate/services/event"
	"github.com/livegate/livegate/services/livestream"
	"github.com/livegate/livegate/services/webhook"
	"github.com/livegate/livegate/services/webhookendpoint"
)

// Config is what `livegate serve` is told.
type Config struct {
	// HTTPAddr is the REST gateway's listen address.
	HTTPAddr string
	// GRPCAddr is the gRPC server's listen address.
	GRPCAddr string
	// AdminAddr is the admin listener's address (/metrics, /livez, /readyz, /debug/pprof/);
	// empty: no admin listener.
	AdminAddr string
	// DataDir holds the SQLite database.
	DataDir string
	// DatabaseURL, when set, selects PostgreSQL (postgres:// or postgresql://) instead of
	// SQLite: several livegate processes may share it (see OpenStore).
	DatabaseURL string
	// DatabasePollOnly: on PostgreSQL, follow the log by polling only, without LISTEN (for
	// a proxy that does not pass LISTEN on).
	DatabasePollOnly bool
	// MaxClockOffset: on PostgreSQL, how far this node's clock may be from the database's
	// before its writes are refused (zero: postgres.DefaultMaxClockOffset; negative: no
	// check; see StoreConfig).
	MaxClockOffset time.Duration
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
	// Limits bound connections, streams, timeouts and message sizes; zero fields take
	// DefaultLimits' values.
	Limits Limits
	// Tracing is the OpenTelemetry pipeline (telemetry.FromEnv); nil: tracing off. Its
	// owner shuts it down (flushes it) after Serve returns.
	Tracing *telemetry.Tracing
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client in the
	// access log; nil: none.
	TrustedProxies *accesslog.Proxies
	// CORSOrigins are the origins whose browser pages may call the REST API and the SSE
	// route (gateway.ParseCORSOrigins); empty: CORS off, same-origin only.
	CORSOrigins []string
	// AdminTokens are the operator tokens of the admin API (AdminService, REST /admin/v1/...;
	// see auth.NewOperators); none: the admin API is off.
	AdminTokens []string
	// WebhooksOut configures outbound webhooks.
	WebhooksOut WebhooksOut
}

// WebhooksOut configures outbound webhooks: what an app may register.
type WebhooksOut struct {
	// AllowHTTP lets apps register http:// URLs (--webhooks-allow-http); else https only.
	AllowHTTP bool
	// AllowPrivate lets URLs reach non-public addresses: loopback, private, link-local...
	// (--webhooks-allow-private); for development and tests.
	AllowPrivate bool
	// MaxPerApp bounds an app's endpoints (--webhooks-max-per-app); 0:
	// webhookendpoint.DefaultMaxPerApp; negative: no bound.
	MaxPerApp int
	// Delivery tunes the delivery engine (--webhooks-timeout, --webhooks-max-concurrent,
	// --webhooks-retry-schedule, --webhooks-retry-for, --webhooks-disable-after); its Policy
	// is Policy().
	Delivery outbound.Options
}

// Policy is the SSRF policy of registered URLs and of the deliveries' dials.
func (w WebhooksOut) Policy() netguard.Policy {
	return netguard.Policy{AllowHTTP: w.AllowHTTP, AllowPrivate: w.AllowPrivate}
}

// Limits bound what the HTTP and gRPC transports give one client. A zero field takes the
// default (DefaultLimits); a negative value turns that limit off, except where the library
// has a bound of its own, which then applies: HTTPMaxHeaderBytes (net/http's 1 MiB),
// GRPCMaxRecvBytes (gRPC's 4 MiB), GRPCMaxHeaderBytes (gRPC's 16 MiB), GRPCKeepaliveMinTime
// (any ping rate is accepted).
type Limits struct {
	// HTTPReadHeaderTimeout bounds reading a request's headers.
	HTTPReadHeaderTimeout time.Duration
	// HTTPReadTimeout bounds reading a whole request, body included: a stalled upload is
	// cut after it. Streaming routes (SSE, NDJSON) are exempt once their request is read.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds writing a response (from the end of its request's headers).
	// Streaming routes use the feed's stall timeout (Config.Feed.StallTimeout) instead.
	HTTPWriteTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive connection idle this long between requests.
	HTTPIdleTimeout time.Duration
	// HTTPMaxHeaderBytes bounds a request's headers (and request line).
	HTTPMaxHeaderBytes int
	// HTTPMaxBodyBytesInFlight bounds the request body bytes received and not yet answered:
	// a request holds what it has read of its body until answered; one whose read finds no
	// room gets 429 with Retry-After (see gateway.Options.MaxBodyBytesInFlight).
	HTTPMaxBodyBytesInFlight int
	// HTTPMaxBodyBytesInFlightPerClient bounds the same bytes for one client (its address,
	// as the access log names it; see gateway.Options.MaxBodyBytesInFlightPerClient).
	HTTPMaxBodyBytesInFlightPerClient int
	// MaxHTTPConns bounds concurrent HTTP connections; past it, new connections wait in the
	// listen backlog until one closes.
	MaxHTTPConns int
	// MaxGRPCConns bounds concurrent gRPC connections, the same way.
	MaxGRPCConns int
	// HTTPMaxConnsPerClient and GRPCMaxConnsPerClient bound the connections one client
	// address (an IPv6 /64; trusted proxies exempt) holds at once; past it, a new connection
	// is closed as soon as it is accepted (an HTTP one answered 429 first).
	HTTPMaxConnsPerClient, GRPCMaxConnsPerClient int
	// GRPCMaxStreamsPerConn is HTTP/2 MAX_CONCURRENT_STREAMS on gRPC connections: a client's
	// further calls on one connection wait for a free stream (gRPC clients queue them).
	GRPCMaxStreamsPerConn int
	// GRPCMaxRecvBytes bounds one gRPC request message: a 1 MiB webhook body and headroom.
	GRPCMaxRecvBytes int
	// GRPCKeepaliveMinTime: clients that ping more often than this are disconnected
	// (GOAWAY too_many_pings). Pings without an open stream are permitted.
	GRPCKeepaliveMinTime time.Duration
	// GRPCKeepaliveTime: the server pings a connection silent this long, and closes it when
	// the ping is not answered within GRPCKeepaliveTimeout (dead peers).
	GRPCKeepaliveTime    time.Duration
	GRPCKeepaliveTimeout time.Duration
	// GRPCMaxConnIdle closes (GOAWAY) a gRPC connection without a call for this long.
	GRPCMaxConnIdle time.Duration
	// GRPCMaxHeaderBytes bounds a gRPC call's metadata (its HTTP/2 header list, uncompressed),
	// which the server holds for the life of the call; gRPC's own bound is 16 MiB. The
	// default, 16 KiB, is far more than a token, a trace context and a request id (a few
	// hundred bytes): 64 KiB let one address with no token hold 800 MB in health Watch
	// streams (128 connections of 100 streams).
	GRPCMaxHeaderBytes int
	// GRPCRequestTimeout ends a unary call whose request message has not arrived within this
	// long of its headers (see requestTimeout): gRPC reads a unary call's request before it
	// is authenticated, and would wait for it as long as the connection lives.
	GRPCRequestTimeout time.Duration
	// GRPCHandshakeTimeout closes a new gRPC connection that has not sent its HTTP/2
	// preface and settings within this long (gRPC's own default is 120 s, during which a
	// silent connection holds one of MaxGRPCConns).
	GRPCHandshakeTimeout time.Duration
	// AdminMaxConns, AdminReadTimeout and AdminMaxHeaderBytes bound the admin listener
	// (metrics, health, pprof), whose clients are a few scrapers and operators; its write
	// timeout is fixed (adminWriteTimeout). Not flags.
	AdminMaxConns       int
	AdminReadTimeout    time.Duration
	AdminMaxHeaderBytes int
	// GatewayMaxRecvBytes bounds one message the REST gateway receives from the gRPC server
	// (an event, a ListEvents page). Not a flag: it only needs to exceed what the server
	// sends.
	GatewayMaxRecvBytes int
}

// DefaultLimits are the limits of a server not told otherwise.
func DefaultLimits() Limits {
	return Limits{
		HTTPReadHeaderTimeout:             10 * time.Second,
		HTTPReadTimeout:                   30 * time.Second,
		HTTPWriteTimeout:                  60 * time.Second,
		HTTPIdleTimeout:                   120 * time.Second,
		HTTPMaxHeaderBytes:                64 << 10,
		HTTPMaxBodyBytesInFlight:          gateway.DefaultMaxBodyBytesInFlight,
		HTTPMaxBodyBytesInFlightPerClient: gateway.DefaultMaxBodyBytesInFlightPerClient,
		MaxHTTPConns:                      4096,
		MaxGRPCConns:                      1024,
		HTTPMaxConnsPerClient:             512,
		GRPCMaxConnsPerClient:             128,
		GRPCMaxStreamsPerConn:             100,
		GRPCMaxRecvBytes:                  gateway.MaxBodyBytes + 64<<10,
		GRPCKeepaliveMinTime:              10 * time.Second,
		GRPCKeepaliveTime:                 time.Minute,
		GRPCKeepaliveTimeout:              20 * time.Second,
		GRPCMaxConnIdle:                   5 * time.Minute,
		GRPCHandshakeTimeout:              10 * time.Second,
		GRPCRequestTimeout:                30 * time.Second,
		GRPCMaxHeaderBytes:                16 << 10,
		GatewayMaxRecvBytes:               16 << 20,
		AdminMaxConns:                     64,
		AdminReadTimeout:                  30 * time.Second,
		AdminMaxHeaderBytes:               64 << 10,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fillInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&l.HTTPReadHeaderTimeout, d.HTTPReadHeaderTimeout)
	fill(&l.HTTPReadTimeout, d.HTTPReadTimeout)
	fill(&l.HTTPWriteTimeout, d.HTTPWriteTimeout)
	fill(&l.HTTPIdleTimeout, d.HTTPIdleTimeout)
	fill(&l.GRPCKeepaliveMinTime, d.GRPCKeepaliveMinTime)
	fill(&l.GRPCKeepaliveTime, d.GRPCKeepaliveTime)
	fill(&l.GRPCKeepaliveTimeout, d.GRPCKeepaliveTimeout)
	fill(&l.GRPCMaxConnIdle, d.GRPCMaxConnIdle)
	fill(&l.GRPCHandshakeTimeout, d.GRPCHandshakeTimeout)
	fill(&l.GRPCRequestTimeout, d.GRPCRequestTimeout)
	fillInt(&l.GRPCMaxHeaderBytes, d.GRPCMaxHeaderBytes)
	fillInt(&l.HTTPMaxHeaderBytes, d.HTTPMaxHeaderBytes)
	fillInt(&l.HTTPMaxBodyBytesInFlight, d.HTTPMaxBodyBytesInFlight)
	fillInt(&l.HTTPMaxBodyBytesInFlightPerClient, d.HTTPMaxBodyBytesInFlightPerClient)
	fillInt(&l.MaxHTTPConns, d.MaxHTTPConns)
	fillInt(&l.MaxGRPCConns, d.MaxGRPCConns)
	fillInt(&l.HTTPMaxConnsPerClient, d.HTTPMaxConnsPerClient)
	fillInt(&l.GRPCMaxConnsPerClient, d.GRPCMaxConnsPerClient)
	fillInt(&l.GRPCMaxStreamsPerConn, d.GRPCMaxStreamsPerConn)
	fillInt(&l.GRPCMaxRecvBytes, d.GRPCMaxRecvBytes)
	fillInt(&l.GatewayMaxRecvBytes, d.GatewayMaxRecvBytes)
	fillInt(&l.AdminMaxConns, d.AdminMaxConns)
	fill(&l.AdminReadTimeout, d.AdminReadTimeout)
	fillInt(&l.AdminMaxHeaderBytes, d.AdminMaxHeaderBytes)
	return l
}

// on turns a limit's "negative: off" into the zero value net/http and gRPC read as none.
func on[T time.Duration | int](v T) T { return max(v, 0) }

// infinity is "no limit" for gRPC's keepalive durations.
const infinity = time.Duration(math.MaxInt64)

func orInfinity(d time.Duration) time.Duration {
	if d < 0 {
		return infinity
	}
	return d
}

// recvLimit is a gRPC receive limit: off (negative) is the largest gRPC takes.
func recvLimit(n int) int {
	if n < 0 {
		return math.MaxInt32
	}
	return n
}

// minPing is the keepalive enforcement's MinTime: off (negative) accepts any ping rate.
func minPing(d time.Duration) time.Duration {
	if d < 0 {
		return time.Nanosecond
	}
	return d
}

// grpcServerOptions are the transport limits of the public gRPC server; rt, when not nil,
// bounds the wait for a unary call's request.
func (l Limits) grpcServerOptions(rt *requestTimeout) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPing(l.GRPCKeepaliveMinTime), PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: orInfinity(l.GRPCMaxConnIdle),
			Time:              orInfinity(l.GRPCKeepaliveTime),
			Timeout:           orInfinity(l.GRPCKeepaliveTimeout),
		}),
		grpc.ConnectionTimeout(orInfinity(l.GRPCHandshakeTimeout)),
	}
	if l.GRPCMaxStreamsPerConn > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(min(l.GRPCMaxStreamsPerConn, math.MaxUint32))))
	}
	if l.GRPCMaxRecvBytes > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(l.GRPCMaxRecvBytes))
	}
	if rt != nil {
		opts = append(opts, rt.options()...)
	}
	if l.GRPCMaxHeaderBytes > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(min(l.GRPCMaxHeaderBytes, math.MaxUint32))))
	}
	return opts
}

// The gateway's in-memory connection's flow-control windows: per stream, what a REST
// subscriber that stopped reading has buffered in the gateway at most; per connection, shared
// by all (gRPC gives it back as the data arrives, not as streams read it).
const (
	gatewayStreamWindow = 256 << 10
	gatewayConnWindow   = 16 << 20
)

// limitListener bounds the concurrent connections lis accepts (n < 0: no bound).
func limitListener(lis net.Listener, n int) net.Listener {
	if n < 0 {
		return lis
	}
	return netutil.LimitListener(lis, n)
}

// adminWriteTimeout bounds writing an admin listener's answer: long enough for a CPU profile
// or trace of up to 2 minutes (net/http/pprof refuses a longer one).
const adminWriteTimeout = 2*time.Minute + 30*time.Second

// The gateway refuses webhook callers from their headers with the webhook service's checks.
var _ gateway.WebhookAdmitter = (*webhook.Server)(nil)

// Server is a running livegate: listening, not yet serving until Serve.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	// unlockDataDir frees the SQLite data dir's lock (nil: none held).
	unlockDataDir func()
	hub           *feed.Hub
	// follower feeds hub from followFrom on, when the store is written by other processes too.
	follower   store.LogFollower
	followFrom uint64
	// webhooks also reaps RTMP clients nginx-rtmp stopped reporting.
	webhooks *webhook.Server
	// outbound delivers the apps' events to their webhook endpoints.
	outbound *outbound.Engine
	grpc     *grpc.Server
	// internal serves the REST gateway's connection (in memory): the same services and
	// interceptors as grpc, without the per-connection limits, because the gateway carries
	// every REST client, and every SSE and NDJSON subscription, over that one connection.
	internal    *grpc.Server
	internalLis *bufconn.Listener
	health      *health.Server
	http        *http.Server
	conn        *grpc.ClientConn
	grpcLis     net.Listener
	httpLis     net.Listener
	// metrics are served by admin, on adminLis (nil when Config.AdminAddr is empty).
	metrics  *metrics.Metrics
	ready    *readiness
	admin    *http.Server
	adminLis net.Listener
}

// New opens the store (applying migrations), listens on both addresses and builds the
// servers. Call Serve to serve, or Close to give everything back.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	lim := cfg.Limits
	s := &Server{cfg: cfg, log: log, metrics: metrics.New()}
	m := s.metrics
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if cfg.DatabaseURL == "" {
		// One server per SQLite database (sqlite.LockDataDir), held until Close.
		if s.unlockDataDir, err = sqlite.LockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	db, err := OpenStore(ctx, s.storeConfig())
	if err != nil {
		return nil, err
	}
	s.store = db
	if pg, ok := db.(interface{ SetLogger(*slog.Logger) }); ok {
		pg.SetLogger(log)
	}
	if pg, ok := db.(interface {
		TimeoutsOff(context.Context) ([]string, error)
	}); ok {
		off, err := pg.TimeoutsOff(ctx)
		if err != nil {
			return nil, err
		}
		if len(off) > 0 {
			log.Warn("PostgreSQL session timeouts are off: a node that stalls while holding the write lock holds up every node's writes until it recovers; "+
				"leave them to livegate's defaults, or set them on the database (behind PgBouncer, which drops them: see the README, \"More than one machine\")",
				"off", off, "example", "ALTER DATABASE livegate SET lock_timeout = '10s'")
		}
	}
	if c, ok := db.(interface {
		ObserveCommits(func(int, time.Duration))
	}); ok {
		c.ObserveCommits(m.Committed)
	}
	if c, ok := db.(store.Counter); ok {
		m.State(c)
	}

	// The hub learns of every commit's events, in sequence order. A store only this process
	// writes (SQLite) tells it from the commit hook, before the writers that appended them
	// are answered: nothing acknowledged is missing from a live subscription. A store other
	// processes write too (PostgreSQL) is followed from the hub's head by a tail of its log
	// (Serve runs it): the hook would see only this process's commits (see
	// store.LogFollower).
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
	m.GaugeFunc("livegate_feed_head_sequence", "The greatest sequence this node's feed has published.",
		func() float64 { return float64(s.hub.Head()) })
	m.CounterFunc("livegate_feed_unreadable_events_total", "Committed events that could not be decoded for publishing.",
		func() float64 { return float64(s.hub.Unreadable()) })
	s.ready = &readiness{store: db, hub: s.hub, now: time.Now}
	m.GaugeFunc("livegate_ready", "1 when /readyz would answer 200 (the store answers and the feed follows the log), else 0.",
		func() float64 {
			if s.ready.check(context.Background()) != "" {
				return 0
			}
			return 1
		})
	countAppended := func(recs []store.Event) {
		for i := range recs {
			m.Appended(recs[i].Source)
		}
	}
	// Each event is decoded on its own: one that cannot be is counted, logged, and fails its
	// tenant's subscriptions loudly (before it) instead of costing anyone the rest.
	// Outbound webhooks wake on the same path as the hub.
	wout := cfg.WebhooksOut.Delivery
	wout.Policy = cfg.WebhooksOut.Policy()
	if wout.Version == "" {
		wout.Version, _ = metrics.Build()
	}
	s.outbound = outbound.New(db, parseWebhookFilter, wout, log)
	for _, c := range s.outbound.Collectors() {
		m.Registry().MustRegister(c)
	}
	if f, ok := db.(store.LogFollower); ok {
		s.follower, s.followFrom = f, head
		db.OnCommit(countAppended)
	} else {
		db.OnCommit(func(recs []store.Event) {
			countAppended(recs)
			s.hub.PublishCommitted(recs)
			s.outbound.Notify(recs)
		})
	}

	var operators *auth.Operators
	if len(cfg.AdminTokens) > 0 {
		if operators, err = auth.NewOperators(cfg.AdminTokens); err != nil {
			return nil, fmt.Errorf("admin API: %w", err)
		}
	}
	// One bound for the lines of refused requests, HTTP and gRPC together.
	refusedLines := accesslog.NewRefusedLines(accesslog.DefaultRefusedLinesPerSecond, accesslog.DefaultRefusedLinesBurst)
	unary, streams, err := interceptors.Chain(log, auth.NewAuthenticator(s.store), operators, refusedLines)
	if err != nil {
		return nil, fmt.Errorf("build interceptors: %w", err)
	}
	// Each call's access log identity comes first: on the gateway's connection, the HTTP
	// request's (see accesslog.ServerInterceptors). Then the metrics: they see every call, as
	// answered, whatever the rest of the chain does to it.
	unary = append([]grpc.UnaryServerInterceptor{m.GRPC().UnaryServerInterceptor(), m.Deliveries}, unary...)
	streams = append([]grpc.StreamServerInterceptor{m.GRPC().StreamServerInterceptor()}, streams...)
	gatewayUnary := func(fromGateway bool) []grpc.UnaryServerInterceptor {
		u, _ := accesslog.ServerInterceptors(fromGateway)
		return append([]grpc.UnaryServerInterceptor{u}, unary...)
	}
	// The subscriptions' interceptor comes before all: it hands Subscribe the transport's own
	// stream to send on (metrics.SubscribeSender). face: the gRPC face, or (the server the
	// gateway dials) NDJSON or SSE, as the gateway says.
	chain := func(fromGateway bool, face string) []grpc.ServerOption {
		_, st := accesslog.ServerInterceptors(fromGateway)
		return append([]grpc.ServerOption{
			grpc.ChainUnaryInterceptor(gatewayUnary(fromGateway)...),
			grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{m.Subscriptions(face), st}, streams...)...),
		}, cfg.Tracing.ServerOptions()...)
	}
	// Both servers send an event encoded once (rawcodec) as it is: see events.SendEncoded.
	var rt *requestTimeout
	if lim.GRPCRequestTimeout > 0 {
		rt = &requestTimeout{d: lim.GRPCRequestTimeout, streaming: map[string]bool{}}
	}
	s.grpc = grpc.NewServer(append(chain(false, metrics.FaceGRPC), append(lim.grpcServerOptions(rt), rawcodec.ServerOption())...)...)
	s.internal = grpc.NewServer(append(chain(true, ""), grpc.MaxRecvMsgSize(max(lim.GRPCMaxRecvBytes, gateway.MaxBodyBytes+64<<10)), rawcodec.ServerOption())...)
	urls := livestream.URLs{IngestBase: cfg.IngestBase, PlaybackBase: cfg.PlaybackBase}
	livestreams := livestream.NewServer(s.store, urls)
	analyticsSrv := analytics.NewServer(s.store)
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
	feedOpts := cfg.Feed
	feedOpts.Observer = m
	events := event.NewServer(s.store, s.hub, feedOpts)
	if cfg.WebhooksOut.AllowHTTP || cfg.WebhooksOut.AllowPrivate {
		log.Warn("outbound webhooks: URLs are not held to https and public addresses: for development only",
			"webhooks_allow_http", cfg.WebhooksOut.AllowHTTP, "webhooks_allow_private", cfg.WebhooksOut.AllowPrivate)
	}
	webhookEndpoints := webhookendpoint.NewServer(s.store, webhookendpoint.Options{
		Policy:    cfg.WebhooksOut.Policy(),
		MaxPerApp: cfg.WebhooksOut.MaxPerApp,
		Deliverer: s.outbound,
	})
	events.SendEncoded()
	for _, g := range []*grpc.Server{s.grpc, s.internal} {
		livegatev1.RegisterLivestreamServiceServer(g, livestreams)
		livegatev1.RegisterAnalyticsServiceServer(g, analyticsSrv)
		livegatev1.RegisterWebhookServiceServer(g, s.webhooks)
		livegatev1.RegisterEventServiceServer(g, events)
		livegatev1.RegisterWebhookEndpointServiceServer(g, webhookEndpoints)
		if operators != nil {
			livegatev1.RegisterAdminServiceServer(g, admin.NewServer(s.store))
		}
	}
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	m.GRPC().InitializeMetrics(s.grpc)
	if rt != nil {
		rt.learn(s.grpc)
	}

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen for gRPC on %s: %w", cfg.GRPCAddr, err)
	}
	s.grpcLis = limitListener(limitPerAddr(s.grpcLis, lim.GRPCMaxConnsPerClient, cfg.TrustedProxies.Trusts, nil, func() { m.ConnRefused("grpc") }), lim.MaxGRPCConns)
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	s.httpLis = limitListener(limitPerAddr(s.httpLis, lim.HTTPMaxConnsPerClient, cfg.TrustedProxies.Trusts, refuseHTTPConn, func() { m.ConnRefused("http") }), lim.MaxHTTPConns)
	if cfg.AdminAddr != "" {
		if s.adminLis, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("listen for the admin listener on %s: %w", cfg.AdminAddr, err)
		}
		s.adminLis = limitListener(s.adminLis, lim.AdminMaxConns)
		s.admin = &http.Server{
			Handler:           adminHandler(m, s.ready),
			ErrorLog:          httpErrorLog(log),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       on(lim.AdminReadTimeout),
			WriteTimeout:      adminWriteTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    on(lim.AdminMaxHeaderBytes),
		}
	}
	// The gateway is a gRPC client of this server (of the same services and interceptor
	// chain, served in memory by s.internal), so both faces behave alike.
	s.internalLis = bufconn.Listen(256 << 10)
	carryUnary, carryStream := accesslog.GatewayClientInterceptors()
	s.conn, err = grpc.NewClient("passthrough:///livegate-gateway", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.internalLis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(recvLimit(lim.GatewayMaxRecvBytes))),
		// Fixed flow-control windows: gRPC's estimate of the bandwidth-delay product grows a
		// stream's window up to 16 MiB on this in-memory connection, and a REST subscriber
		// (NDJSON, SSE) that stops reading then has that much buffered here, besides its
		// queue: 2.5 MB each in the network audit, against 64 KiB with a fixed window.
		grpc.WithInitialWindowSize(gatewayStreamWindow),
		grpc.WithInitialConnWindowSize(gatewayConnWindow),
		grpc.WithChainUnaryInterceptor(carryUnary),
		grpc.WithChainStreamInterceptor(carryStream),
	}, cfg.Tracing.DialOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("dial own gRPC server: %w", err)
	}
	// The webhook routes' unary calls run in process, through the same chain and stats
	// handlers as s.internal's, without the loopback HTTP/2 hop (see internal/inproc).
	clientStats, serverStats := cfg.Tracing.StatsHandlers()
	webhooksConn := inproc.New(inproc.Options{
		Unary:       gatewayUnary(true),
		ClientUnary: []grpc.UnaryClientInterceptor{carryUnary},
		ClientStats: clientStats,
		ServerStats: serverStats,
		Fallback:    s.conn,
	})
	livegatev1.RegisterWebhookServiceServer(webhooksConn, s.webhooks)
	// One stall timeout for every face: the gateway cuts an SSE/NDJSON client that stops
	// reading after as long as Subscribe waits for a gRPC client.
	stall := cfg.Feed.StallTimeout
	if stall == 0 {
		stall = feed.DefaultStallTimeout
	}
	handler, err := gateway.New(ctx, s.conn, gateway.Options{
		Admitter:                      s.webhooks,
		StallTimeout:                  on(stall),
		MaxBodyBytesInFlight:          int64(lim.HTTPMaxBodyBytesInFlight),
		RefusedLines:                  refusedLines,
		MaxBodyBytesInFlightPerClient: int64(lim.HTTPMaxBodyBytesInFlightPerClient),
		Log:                           log,
		Metrics:                       m,
		TrustedProxies:                cfg.TrustedProxies,
		CORSOrigins:                   cfg.CORSOrigins,
		AdminAPI:                      operators != nil,
		Webhooks:                      webhooksConn,
	})
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           cfg.Tracing.HTTPHandler(handler),
		ErrorLog:          httpErrorLog(log),
		ReadHeaderTimeout: on(lim.HTTPReadHeaderTimeout),
		ReadTimeout:       on(lim.HTTPReadTimeout),
		WriteTimeout:      on(lim.HTTPWriteTimeout),
		IdleTimeout:       on(lim.HTTPIdleTimeout),
		MaxHeaderBytes:    on(lim.HTTPMaxHeaderBytes),
	}
	return s, nil
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the address the REST gateway listens on.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// AdminAddr is the address the admin listener listens on ("" when there is none).
func (s *Server) AdminAddr() string {
	if s.adminLis == nil {
		return ""
	}
	return s.adminLis.Addr().String()
}

func (s *Server) storeConfig() StoreConfig {
	return StoreConfig{DatabaseURL: s.cfg.DatabaseURL, DataDir: s.cfg.DataDir, PollOnly: s.cfg.DatabasePollOnly, MaxClockOffset: s.cfg.MaxClockOffset}
}

// Names of the leases (store.Leaser) under which background jobs run on one node at a time.
const (
	LeaseRetention  = event.RetentionLease
	LeaseRtmpReaper = webhook.ReaperLease
)

// worker is background work the server runs beside its faces: Run works until its context
// ends, then returns (an error stops the whole server).
type worker interface {
	Run(ctx context.Context) error
}

type workerFunc func(ctx context.Context) error

func (f workerFunc) Run(ctx context.Context) error { return f(ctx) }

// workers are the background jobs Serve starts, and stops on shutdown. Jobs that must run
// once per installation (retention, the RTMP reaper) take a lease, so they run on one node
// at a time (on PostgreSQL; on SQLite, the one process).
func (s *Server) workers() []worker {
	ws := []worker{
		event.Pruner{Retention: s.cfg.Retention, Store: s.store, Log: s.log, Pruned: s.metrics.Pruned},
		webhook.Reaper{Webhooks: s.webhooks, Log: s.log},
		s.outbound,
	}
	if s.follower != nil {
		ws = append(ws, workerFunc(func(ctx context.Context) error {
			_ = s.follower.FollowLog(ctx, s.followFrom, func(recs []store.Event) {
				s.hub.PublishCommitted(recs)
				s.outbound.Notify(recs)
			}, s.hub.Gap)
			return nil
		}))
	}
	return ws
}

// Serve serves both faces until ctx is done, then shuts down gracefully: health goes
// NOT_SERVING, HTTP stops taking requests and finishes those in flight, gRPC drains, and the
// store is closed. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	defer s.Close()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	where := "data_dir"
	if s.cfg.DatabaseURL != "" {
		where = "database"
	}
	s.log.Info("livegate serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "admin", s.AdminAddr(), where, s.storeConfig().Describe())

	g, gctx := errgroup.WithContext(ctx)
	for _, w := range s.workers() {
		g.Go(func() error { return w.Run(gctx) })
	}
	// A gRPC server stopped before its Serve began (a shutdown as the process starts)
	// returns ErrServerStopped, as net/http returns ErrServerClosed: a clean stop too.
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.internal.Serve(s.internalLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve the gateway's gRPC: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP: %w", err)
		}
		return nil
	})
	if s.admin != nil {
		// Not in the group: it serves until the others have shut down (/readyz says so meanwhile).
		go func() {
			if err := s.admin.Serve(s.adminLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serve the admin listener", "error", err)
			}
		}()
	}
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("livegate shutting down")
		s.ready.shutting.Store(true)
		s.health.Shutdown()
		// Subscriptions end first, with UNAVAILABLE: clients resume from their cursor elsewhere
		// or after the restart. Then unary calls drain.
		s.hub.Shutdown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		herr := s.http.Shutdown(sctx)
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); s.internal.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			s.grpc.Stop()
			s.internal.Stop()
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
	if s.internal != nil {
		s.internal.Stop()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	if s.admin != nil {
		_ = s.admin.Close()
	}
	for _, l := range []net.Listener{s.grpcLis, s.httpLis, s.adminLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.internalLis != nil {
		_ = s.internalLis.Close()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("close store", "error", err)
		}
		s.store = nil
	}
	if s.unlockDataDir != nil {
		s.unlockDataDir()
		s.unlockDataDir = nil
	}
}

// httpErrorLog is net/http's error log (a handler's panic with its stack, accept errors)
// as ERROR lines of log: JSON like the others, and never dropped by --log-level, as they
// would be at the WARN the standard logger's lines take.
func httpErrorLog(log *slog.Logger) *stdlog.Logger {
	return slog.NewLogLogger(log.Handler(), slog.LevelError)
}
