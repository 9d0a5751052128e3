package interceptors

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate/internal/validation"
)

// refuseNUL refuses a unary request with a NUL character in any of its strings
// (validation.NoNUL: INVALID_ARGUMENT naming the field). WebhookService is left out: its
// requests are checked after the provider's secret, and its decoders name the provider's
// fields (see services/webhook). The one streaming request, Subscribe's, is checked by the
// event service: a stream interceptor would deepen every subscription's handler stack, and
// took the idle ones from 8 KiB of stack to 16 (BenchmarkFeed/idle: 12 KB to 20 KB a
// subscription).
func refuseNUL(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok && !isWebhookService(info.FullMethod) {
		if err := validation.NoNUL(m); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func isWebhookService(method string) bool {
	return strings.HasPrefix(method, "/livegate.v1.WebhookService/")
}
