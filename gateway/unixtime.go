package gateway

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// unixSecondsQueryParser is grpc-gateway's query parser that also takes a
// google.protobuf.Timestamp field (start_time, end_time) as Unix seconds, the way
// RealtimeKit's newest SDKs (cloudflare-go v7, npm cloudflare 7) send the analytics range:
// a value of digits (optionally signed) is read as seconds since the epoch, anything else
// as RFC 3339, as before. Responses keep emitting RFC 3339.
type unixSecondsQueryParser struct{ runtime.DefaultQueryParser }

func init() {
	// grpc-gateway keeps the query parser in a package variable: set it once, before any
	// mux serves, rather than per New (servers in tests start concurrently).
	runtime.SetQueryParameterParser(&unixSecondsQueryParser{})(nil)
}

func (p *unixSecondsQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	var rewritten url.Values
	for key, vs := range values {
		if !isTimestampField(msg.ProtoReflect().Descriptor(), key) {
			continue
		}
		for i, v := range vs {
			secs, ok := unixSeconds(v)
			if !ok {
				continue
			}
			if rewritten == nil {
				rewritten = cloneValues(values)
			}
			rewritten[key][i] = time.Unix(secs, 0).UTC().Format(time.RFC3339)
		}
	}
	parsed := values
	if rewritten != nil {
		parsed = rewritten
	}
	err := p.DefaultQueryParser.Parse(msg, parsed, filter)
	if err != nil {
		// grpc-gateway's own message names RFC 3339 alone: say both forms a time takes.
		for key, vs := range values {
			if !isTimestampField(msg.ProtoReflect().Descriptor(), key) {
				continue
			}
			for _, v := range vs {
				if _, ok := unixSeconds(v); ok {
					continue
				}
				if _, perr := time.Parse(time.RFC3339Nano, v); perr != nil {
					return fmt.Errorf("%s %q: must be an RFC 3339 time (2026-11-29T10:00:00Z) or Unix seconds (1795946400)", key, v)
				}
			}
		}
	}
	return err
}

// unixSeconds reads v as a whole number of seconds within the range a Timestamp can hold.
func unixSeconds(v string) (int64, bool) {
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	// Outside 0001-01-01..9999-12-31 it is left to the RFC 3339 parser to refuse.
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return 0, false
	}
	return secs, true
}

const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

// isTimestampField reports whether the query key (a dotted field path, by proto or JSON
// names) names a google.protobuf.Timestamp field of md.
func isTimestampField(md protoreflect.MessageDescriptor, key string) bool {
	parts := strings.Split(key, ".")
	for i, name := range parts {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			fd = md.Fields().ByJSONName(name)
		}
		if fd == nil || fd.Message() == nil {
			return false
		}
		if i == len(parts)-1 {
			return fd.Message().FullName() == timestampName && !fd.IsList()
		}
		md = fd.Message()
	}
	return false
}

var timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}
