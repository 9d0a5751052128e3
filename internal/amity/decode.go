package amity

import (
	"strings"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	"github.com/livegate/livegate/internal/decode"
)

// Decode decodes a delivery's body. It tolerates keys the schema does not know
// (they are dropped: the stored event has only what the schema knows; the raw body is
// kept only for an event type livegate does not know) and requires a non-blank
// string "event" and an object "data". It does not check that the event type
// is known (see [Known]). Every error is a *decode.FieldError naming the field.
func Decode(body []byte) (*amityv1.Webhook, error) {
	return decodeBody(body, false)
}

// DecodeStrict is Decode, except that a key the schema does not know is an
// error (decode.ErrUnknownField). Tests use it to prove that the schema covers
// a payload.
func DecodeStrict(body []byte) (*amityv1.Webhook, error) {
	return decodeBody(body, true)
}

func decodeBody(body []byte, strict bool) (*amityv1.Webhook, error) {
	top, err := decode.Object(body)
	if err != nil {
		return nil, err
	}
	event, err := decode.String(top, "event")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(event) == "" {
		return nil, &decode.FieldError{Field: "event", Kind: decode.ErrMissingField, Reason: "blank string"}
	}
	if _, err := decode.RequiredObject(top, "data"); err != nil {
		return nil, err
	}
	w := &amityv1.Webhook{}
	if err := decode.Proto(body, "", w, strict); err != nil {
		return nil, err
	}
	return w, nil
}
