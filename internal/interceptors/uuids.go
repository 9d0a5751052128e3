package interceptors

import (
	"context"
	"strings"
	"sync"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// lowerUUIDs makes the UUIDs of a request lowercase before its handler runs: every top-level
// string field its schema declares a UUID ((buf.validate.field).string.uuid, such as
// livestream_id and webhook_id). livegate makes its ids lowercase and looks them up as
// stored, while RFC 9562 has UUIDs read case-insensitively, and the validation rule accepts
// either case: without this, GET .../livestreams/0D2F6E2C-... answered 404 for the
// livestream 0d2f6e2c-.... It runs after validation, so an error names the value as sent.
// Only unary calls have such fields; the feed's livestream_id filter, which is not declared
// a UUID (and is on a stream too), is lowercased by the event service.
func lowerUUIDs(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		r := m.ProtoReflect()
		for _, fd := range uuidFields(r.Descriptor()) {
			v := r.Get(fd).String()
			if lower := strings.ToLower(v); lower != v {
				r.Set(fd, protoreflect.ValueOfString(lower))
			}
		}
	}
	return handler(ctx, req)
}

// uuidFieldsOf caches, by message, the fields uuidFields finds.
var uuidFieldsOf sync.Map // protoreflect.FullName → []protoreflect.FieldDescriptor

// uuidFields returns the top-level singular string fields of md whose rules say UUID.
func uuidFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if fds, ok := uuidFieldsOf.Load(md.FullName()); ok {
		return fds.([]protoreflect.FieldDescriptor)
	}
	var fds []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
			continue
		}
		rules, ok := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
		if ok && rules.GetString().GetUuid() {
			fds = append(fds, fd)
		}
	}
	uuidFieldsOf.Store(md.FullName(), fds)
	return fds
}
