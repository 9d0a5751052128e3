package eventlog

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestCheckerSparseFields: a field numbered above maxDense is found through the checker's
// map (not a slice as long as its number), and checked like the others.
func TestCheckerSparseFields(t *testing.T) {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:    proto.String("sparse.proto"),
		Package: proto.String("sparse"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("M"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("low"), JsonName: proto.String("low"), Number: proto.Int32(1),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: proto.String("high"), JsonName: proto.String("high"), Number: proto.Int32(int32(protowire.MaxValidNumber)),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
			},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(fd.Messages().ByName("M"), map[protoreflect.FullName]*checker{})
	if len(c.fields) != 2 || len(c.sparse) != 1 {
		t.Fatalf("checker has %d dense and %d sparse fields, want 2 (0 and 1) and 1", len(c.fields), len(c.sparse))
	}
	str := func(num protowire.Number, v string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"high, valid UTF-8", str(protowire.MaxValidNumber, "ok"), true},
		{"high, invalid UTF-8", str(protowire.MaxValidNumber, "\xc3\x28"), false},
		{"low, invalid UTF-8", str(1, "\xc3\x28"), false},
		{"unknown number, invalid UTF-8", str(4097, "\xc3\x28"), true},
	} {
		if got := c.valid(tc.body, 0); got != tc.want {
			t.Errorf("%s: valid = %v, want %v", tc.name, got, tc.want)
		}
	}
}
