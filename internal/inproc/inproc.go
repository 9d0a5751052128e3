// Package inproc is a gRPC client connection whose unary calls run the registered service's
// handler on the caller's goroutine, behind the same unary interceptor chain (and stats
// handlers) a grpc.Server applies, without HTTP/2 framing or encoding the messages. The REST
// gateway uses it for the webhook routes: a delivery still passes through authentication,
// validation, logging, error mapping, recovery and metrics, as on the gRPC face, but not
// through a loopback transport.
//
// What a handler sees is what a server gives it: incoming metadata (the caller's outgoing
// metadata), a peer, a grpc.ServerTransportStream (grpc.SetHeader, SendHeader and SetTrailer
// work and reach the caller's grpc.Header and grpc.Trailer options), and the caller's
// deadline and cancellation. Errors reach the caller as the status a remote server would
// send. Streams, and methods not registered here, go to the fallback connection.
//
// The request message is handed to the handler as it is, not copied: the caller must not
// change it until the call returns, nor afterwards while a handler might still read it (the
// gateway builds a new request per call and drops it). The reply is copied into the
// caller's message (proto.Merge), so the caller never shares memory with what the handler
// returned.
package inproc

import (
	"context"
	"net"
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Addr is the address both ends of an in-process call see as their peer's and their own.
var Addr net.Addr = addr{}

type addr struct{}

func (addr) Network() string { return "inproc" }
func (addr) String() string  { return "inproc" }

// Options configure a Conn.
type Options struct {
	// Unary are the server's unary interceptors, outermost first (as grpc.ChainUnaryInterceptor
	// takes them).
	Unary []grpc.UnaryServerInterceptor
	// ClientUnary are the client connection's unary interceptors, outermost first (as
	// grpc.WithChainUnaryInterceptor takes them). Their *grpc.ClientConn argument is nil.
	ClientUnary []grpc.UnaryClientInterceptor
	// ClientStats and ServerStats are the stats handlers of the client connection and of the
	// server (tracing), told of each call as the transport would: TagRPC, Begin,
	// OutHeader (client) or InHeader (server), End. Payload events are not sent: no message is
	// encoded.
	ClientStats, ServerStats []stats.Handler
	// Fallback serves streams and methods not registered on the Conn (nil: they fail with
	// Unimplemented, as a server without them answers).
	Fallback grpc.ClientConnInterface
}

// Conn is a grpc.ClientConnInterface serving the unary methods of the services registered on
// it in process, and a grpc.ServiceRegistrar to register them with.
type Conn struct {
	opts    Options
	mu      sync.RWMutex
	methods map[string]method
}

type method struct {
	impl    any
	handler grpc.MethodHandler
}

var (
	_ grpc.ClientConnInterface = (*Conn)(nil)
	_ grpc.ServiceRegistrar    = (*Conn)(nil)
)

// New returns a Conn with no services.
func New(opts Options) *Conn {
	return &Conn{opts: opts, methods: map[string]method{}}
}

// RegisterService registers the unary methods of a service (as a generated
// Register...Server function does); its streams keep going to the fallback.
func (c *Conn) RegisterService(desc *grpc.ServiceDesc, impl any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range desc.Methods {
		c.methods["/"+desc.ServiceName+"/"+m.MethodName] = method{impl: impl, handler: m.Handler}
	}
}

// Invoke runs a unary call: the client interceptors, then the server's chain and handler.
func (c *Conn) Invoke(ctx context.Context, fullMethod string, args, reply any, opts ...grpc.CallOption) error {
	c.mu.RLock()
	m, ok := c.methods[fullMethod]
	c.mu.RUnlock()
	if !ok {
		if c.opts.Fallback != nil {
			return c.opts.Fallback.Invoke(ctx, fullMethod, args, reply, opts...)
		}
		return status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	invoke := func(ctx context.Context, fullMethod string, args, reply any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
		return c.call(ctx, m, fullMethod, args, reply, opts)
	}
	return chainClient(c.opts.ClientUnary, invoke)(ctx, fullMethod, args, reply, nil, opts...)
}

// NewStream opens a stream on the fallback connection.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, fullMethod string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.opts.Fallback == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	return c.opts.Fallback.NewStream(ctx, desc, fullMethod, opts...)
}

// call is the client's end of one call (after its interceptors): the client stats, the
// server's end, and the answer handed back through the call options.
func (c *Conn) call(ctx context.Context, m method, fullMethod string, args, reply any, opts []grpc.CallOption) (err error) {
	for _, h := range c.opts.ClientStats {
		ctx = h.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: fullMethod, FailFast: true})
	}
	begin := time.Now()
	for _, h := range c.opts.ClientStats {
		h.HandleRPC(ctx, &stats.Begin{Client: true, BeginTime: begin, FailFast: true})
		h.HandleRPC(ctx, &stats.OutHeader{Client: true, FullMethod: fullMethod, RemoteAddr: Addr, LocalAddr: Addr})
	}
	st := &transportStream{method: fullMethod}
	resp, err := c.serve(ctx, m, fullMethod, args, st)
	if err == nil {
		if r, ok := reply.(proto.Message); ok {
			proto.Reset(r)
			if resp != nil {
				proto.Merge(r, resp.(proto.Message))
			}
		} else {
			err = status.Errorf(codes.Internal, "inproc: reply %T is not a proto message", reply)
		}
	}
	header, trailer := st.answer(err)
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		case grpc.PeerCallOption:
			*o.PeerAddr = peer.Peer{Addr: Addr, LocalAddr: Addr}
		}
	}
	end := time.Now()
	for _, h := range c.opts.ClientStats {
		h.HandleRPC(ctx, &stats.End{Client: true, BeginTime: begin, EndTime: end, Trailer: trailer, Error: err})
	}
	return err
}

// serve is the server's end of one call: the context a server gives a handler, its stats,
// the interceptor chain and the handler, and the error as a status.
func (c *Conn) serve(ctx context.Context, m method, fullMethod string, args any, st *transportStream) (resp any, err error) {
	md, _ := metadata.FromOutgoingContext(ctx)
	ctx = metadata.NewIncomingContext(ctx, md)
	ctx = metadata.NewOutgoingContext(ctx, nil) // a server's context carries none
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: Addr, LocalAddr: Addr})
	ctx = grpc.NewContextWithServerTransportStream(ctx, st)
	for _, h := range c.opts.ServerStats {
		ctx = h.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: fullMethod})
	}
	begin := time.Now()
	for _, h := range c.opts.ServerStats {
		h.HandleRPC(ctx, &stats.Begin{BeginTime: begin})
		h.HandleRPC(ctx, &stats.InHeader{FullMethod: fullMethod, Header: md, RemoteAddr: Addr, LocalAddr: Addr})
	}
	defer func() {
		// A panic the chain does not recover would end a server's process too: let it.
		if err != nil {
			// As a server sends an error: a status, or one made of a context error.
			s, ok := status.FromError(err)
			if !ok {
				s = status.FromContextError(err)
			}
			err = s.Err()
		}
		end := time.Now()
		_, trailer := st.answer(err)
		for _, h := range c.opts.ServerStats {
			h.HandleRPC(ctx, &stats.End{BeginTime: begin, EndTime: end, Trailer: trailer, Error: err})
		}
	}()
	chain := chainServer(c.opts.Unary)
	// The generated method handler decodes into a new message of its own and passes it to the
	// interceptor: dec leaves that one empty, and the interceptor is given the caller's
	// message instead (see the package comment), of the same type, so the handler's type
	// assertion holds.
	dec := func(v any) error {
		if reflect.TypeOf(v) != reflect.TypeOf(args) {
			return status.Errorf(codes.Internal, "inproc: request %T for %s, want %T", args, fullMethod, v)
		}
		return nil
	}
	handOver := func(ctx context.Context, _ any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if chain == nil {
			return handler(ctx, args)
		}
		return chain(ctx, args, info, handler)
	}
	return m.handler(m.impl, ctx, dec, handOver)
}

// chainServer turns the server's interceptors into one, as grpc.ChainUnaryInterceptor does.
func chainServer(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(ints) {
	case 0:
		return nil
	case 1:
		return ints[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ints[0](ctx, req, info, chainServerHandler(ints, 0, info, handler))
	}
}

func chainServerHandler(ints []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ints)-1 {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[i+1](ctx, req, info, chainServerHandler(ints, i+1, info, final))
	}
}

// chainClient turns the client's interceptors and the invoker into one invoker.
func chainClient(ints []grpc.UnaryClientInterceptor, invoker grpc.UnaryInvoker) grpc.UnaryInvoker {
	for i := len(ints) - 1; i >= 0; i-- {
		next, in := invoker, ints[i]
		invoker = func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			return in(ctx, method, req, reply, cc, next, opts...)
		}
	}
	return invoker
}

// transportStream is the call's grpc.ServerTransportStream: it keeps the header and trailer
// metadata the handler sets.
type transportStream struct {
	method string
	mu     sync.Mutex
	header metadata.MD
	sent   bool
	trail  metadata.MD
}

func (s *transportStream) Method() string { return s.method }

func (s *transportStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return status.Error(codes.Internal, "transport: the stream is done or WriteHeader was already called")
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *transportStream) SendHeader(md metadata.MD) error {
	if err := s.SetHeader(md); err != nil {
		return err
	}
	s.mu.Lock()
	s.sent = true
	s.mu.Unlock()
	return nil
}

func (s *transportStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trail = metadata.Join(s.trail, md)
	return nil
}

// answer is the header and trailer metadata as a grpc-go client receives them from a
// server's transport when the call ends with err (copies): the transport's content-type in
// the header when one was sent (SendHeader, header metadata set, or a reply), otherwise in
// the trailer (a trailers-only answer); and an error's details as grpc-status-details-bin.
func (s *transportStream) answer(err error) (header, trailer metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	headerSent := s.sent || len(s.header) > 0 || err == nil
	trailer = s.trail.Copy()
	if headerSent {
		header = s.header.Copy()
		header.Set("content-type", "application/grpc")
	} else {
		header = metadata.MD{}
		trailer.Set("content-type", "application/grpc")
	}
	if st, ok := status.FromError(err); ok && len(st.Proto().GetDetails()) > 0 {
		if b, err := proto.Marshal(st.Proto()); err == nil {
			trailer.Set("grpc-status-details-bin", string(b))
		}
	}
	return header, trailer
}
