package validation

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livegate/livegate/internal/apierror"
)

// NoNUL refuses a request with a NUL character in any of its strings, nested ones included:
// INVALID_ARGUMENT naming the field. PostgreSQL's text cannot hold one, so such a value was a
// 500 there when it reached a query (a webhook endpoint's name, the feed's type, room_id and
// livestream_id filters), and stored as it was on SQLite; no field of livegate's API means
// anything with one. The server's interceptor checks unary requests with it, and the event
// service its one streaming request (Subscribe's).
func NoNUL(m proto.Message) error { return nulField(m.ProtoReflect(), "") }

// nulField returns INVALID_ARGUMENT naming the first field of m (under the path prefix)
// whose string holds a NUL, nil if none does.
func nulField(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if err = nulValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i)); err != nil {
					return false
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				at := fmt.Sprintf("%s[%q]", name, k.String())
				if strings.ContainsRune(k.String(), 0) {
					err = nulError(name)
					return false
				}
				err = nulValue(fd.MapValue(), mv, at)
				return err == nil
			})
		default:
			err = nulValue(fd, v, name)
		}
		return err == nil
	})
	return err
}

// nulValue checks one value of field fd, at path.
func nulValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if strings.ContainsRune(v.String(), 0) {
			return nulError(path)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return nulField(v.Message(), path+".")
	}
	return nil
}

func nulError(path string) error {
	return apierror.InvalidArgument(path, "must not contain a NUL character")
}
