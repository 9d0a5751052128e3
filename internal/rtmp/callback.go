// Package rtmp decodes nginx-rtmp HTTP callbacks.
//
// nginx with the RTMP module (libnginx-mod-rtmp, github.com/arut/nginx-rtmp-module)
// calls on_connect, on_disconnect, on_publish, on_play, on_publish_done,
// on_play_done, on_done, on_record_done and on_update as form-encoded POSTs.
// [ParseCallback] turns the form into a [rtmpv1.Callback]; the fields each call
// sends are listed in proto/livegate/rtmp/v1/rtmp.proto. For on_connect,
// on_publish and on_play, a 2xx answer allows, any other status refuses, and a
// 3xx with "Location: NEWNAME" renames the stream.
package rtmp

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	"github.com/livegate/livegate/internal/decode"
)

// The values of the "call" field, one per callback. on_update sends
// CallUpdatePublish or CallUpdatePlay (CallUpdate when the session neither
// publishes nor plays).
const (
	CallConnect       = "connect"
	CallDisconnect    = "disconnect"
	CallPublish       = "publish"
	CallPlay          = "play"
	CallPublishDone   = "publish_done"
	CallPlayDone      = "play_done"
	CallDone          = "done"
	CallRecordDone    = "record_done"
	CallUpdatePublish = "update_publish"
	CallUpdatePlay    = "update_play"
	CallUpdate        = "update"
)

// fields are the form keys nginx-rtmp writes itself; every other key is one
// of the client's query arguments and goes to Callback.args.
var fields = map[string]func(cb *rtmpv1.Callback, v string) error{
	"call":     func(cb *rtmpv1.Callback, v string) error { cb.Call = v; return nil },
	"app":      func(cb *rtmpv1.Callback, v string) error { cb.App = v; return nil },
	"name":     func(cb *rtmpv1.Callback, v string) error { cb.Name = v; return nil },
	"addr":     func(cb *rtmpv1.Callback, v string) error { cb.Addr = v; return nil },
	"flashver": func(cb *rtmpv1.Callback, v string) error { cb.Flashver = v; return nil },
	"swfurl":   func(cb *rtmpv1.Callback, v string) error { cb.Swfurl = v; return nil },
	"tcurl":    func(cb *rtmpv1.Callback, v string) error { cb.Tcurl = v; return nil },
	"pageurl":  func(cb *rtmpv1.Callback, v string) error { cb.Pageurl = v; return nil },
	"type":     func(cb *rtmpv1.Callback, v string) error { cb.Type = v; return nil },
	"recorder": func(cb *rtmpv1.Callback, v string) error { cb.Recorder = v; return nil },
	"path":     func(cb *rtmpv1.Callback, v string) error { cb.Path = v; return nil },
	"clientid": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Clientid, err = parseUint[uint64](v, 64)
		return err
	},
	"epoch": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Epoch, err = parseUint[uint32](v, 32)
		return err
	},
	"start": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Start, err = parseUint[uint32](v, 32)
		return err
	},
	"duration": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Duration, err = parseUint[uint32](v, 32)
		return err
	},
	"reset": func(cb *rtmpv1.Callback, v string) error {
		switch v {
		case "0":
			cb.Reset_ = proto.Bool(false)
		case "1":
			cb.Reset_ = proto.Bool(true)
		default:
			return errors.New("not 0 or 1")
		}
		return nil
	},
	"time": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Time, err = parseInt[int64](v, 64)
		return err
	},
	"timestamp": func(cb *rtmpv1.Callback, v string) (err error) {
		cb.Timestamp, err = parseInt[int32](v, 32)
		return err
	},
}

// nameless are the calls that carry no stream name.
var nameless = map[string]bool{CallConnect: true, CallDisconnect: true}

// ParseCallback decodes the form fields of an nginx-rtmp callback (the POST
// body, or the query string with `notify_method get`).
//
// call and app are required, and name too except for connect and disconnect,
// which concern no stream; an unknown call is accepted. Numeric fields must be
// the decimal numbers nginx-rtmp writes (clientid a uint64; epoch, start and
// duration uint32; time an int64; timestamp an int32; reset 0 or 1). When a
// key appears more than once, the first value counts: nginx-rtmp writes its
// own fields before the client's query arguments. Keys that are not
// nginx-rtmp's own fields are the client's query arguments and go to args
// (first value of each). All keys and values must be valid UTF-8, without NUL.
//
// Every error is a *decode.FieldError naming the form field, of kind
// decode.ErrMissingField or decode.ErrInvalidValue.
func ParseCallback(form url.Values) (*rtmpv1.Callback, error) {
	cb := &rtmpv1.Callback{}
	for _, key := range []string{"call", "app"} {
		if form.Get(key) == "" {
			return nil, &decode.FieldError{Kind: decode.ErrMissingField, Field: key, Reason: "absent or empty"}
		}
	}
	if !nameless[form.Get("call")] && form.Get("name") == "" {
		return nil, &decode.FieldError{Kind: decode.ErrMissingField, Field: "name", Reason: "required for call " + strconv.Quote(form.Get("call"))}
	}

	// Sorted, so that the first invalid field reported does not depend on
	// map order.
	for _, key := range slices.Sorted(maps.Keys(form)) {
		values := form[key]
		if len(values) == 0 {
			continue
		}
		v := values[0]
		if !utf8.ValidString(key) {
			return nil, &decode.FieldError{Kind: decode.ErrInvalidValue, Field: fieldName(key), Reason: "key is not valid UTF-8"}
		}
		if !utf8.ValidString(v) {
			return nil, &decode.FieldError{Kind: decode.ErrInvalidValue, Field: fieldName(key), Reason: "value is not valid UTF-8"}
		}
		if strings.IndexByte(key+v, 0) >= 0 {
			// nginx-rtmp sends none; PostgreSQL cannot look one up (a stream key with %00 was
			// a 500 there).
			return nil, &decode.FieldError{Kind: decode.ErrInvalidValue, Field: fieldName(key), Reason: "holds a NUL character"}
		}
		set, ok := fields[key]
		if !ok {
			if cb.Args == nil {
				cb.Args = map[string]string{}
			}
			cb.Args[key] = v
			continue
		}
		if err := set(cb, v); err != nil {
			return nil, &decode.FieldError{
				Kind:   decode.ErrInvalidValue,
				Field:  key,
				Reason: fmt.Sprintf("%s is %s", strconv.Quote(v), err),
				Err:    err,
			}
		}
	}
	return cb, nil
}

// fieldName is how an error names the form key: as it is, or quoted when it
// is empty, not valid UTF-8, or holds a NUL.
func fieldName(key string) string {
	if key == "" || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return strconv.Quote(key)
	}
	return key
}

func parseUint[T uint32 | uint64](s string, bits int) (*T, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return nil, numError(err, bits, "unsigned ")
	}
	v := T(n)
	return &v, nil
}

func parseInt[T int32 | int64](s string, bits int) (*T, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return nil, numError(err, bits, "")
	}
	v := T(n)
	return &v, nil
}

// numError words a strconv error without repeating the input, keeping it as
// the cause.
func numError(err error, bits int, unsigned string) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("out of range for a %d-bit %sinteger: %w", bits, unsigned, strconv.ErrRange)
	}
	return fmt.Errorf("not a decimal %d-bit %sinteger: %w", bits, unsigned, strconv.ErrSyntax)
}
