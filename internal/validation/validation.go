// Package validation holds the process's validator of requests against their buf.validate
// rules, shared by the server's validation interceptor and the webhook service (which
// validates its requests itself, after checking the caller's secret).
package validation

import (
	"fmt"
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/livegate/livegate/gen/go/livegate/v1" // registers the services' files
)

// Package is the proto package whose services' requests Validator compiles up front.
const Package = "livegate.v1"

// Validator returns the process's validator. Its first call builds it with the rules of the
// request of every method of Package's services compiled (about 60 ms of CPU, once per
// process): compiled lazily, as protovalidate does by default, a method's first request
// after a start waited for them (CEL programs), 5 ms for ListEvents and 12 ms for Subscribe
// on the development machine, and so did the first delivery of each webhook. Messages of
// other packages (gRPC health, reflection) are still compiled when first seen.
func Validator() (protovalidate.Validator, error) { return validator() }

var validator = sync.OnceValues(func() (protovalidate.Validator, error) {
	v, err := protovalidate.New(protovalidate.WithMessageDescriptors(Requests()...))
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	return v, nil
})

// Requests are the request messages of every method of Package's services, each once.
func Requests() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	seen := map[protoreflect.FullName]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage(Package, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				in := methods.Get(j).Input()
				if !seen[in.FullName()] {
					seen[in.FullName()] = true
					out = append(out, in)
				}
			}
		}
		return true
	})
	return out
}
